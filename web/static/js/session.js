// One participant's session with the server (docs/PROTOCOL.md): a Socket.IO connection, a
// publisher RTCPeerConnection (what we send) and a subscriber one (what the SFU sends us).
//
// Reconnection: the SFU (aiortc) cannot do ICE restarts, so every failure ends in a full rejoin
// on a new socket with the same token; the server lets an admitted participant back in without
// the lobby. Triggers: the socket drops, the browser goes offline, or a PC fails. The server's
// own `media_reset` (it gave up on our PCs but the socket is fine) only rebuilds the PCs.
//
// The UI listens with session.on(name, fn); names: "state" (connecting|lobby|room|reconnecting|
// final), "final" ({kind: removed|denied|ended|replaced|refused}), "participants",
// "tracks", "lobby", "speaker", "alarm", "hearing", "local", "hands", "room" (the room I am in),
// "rooms" (moderators: every room with its members).
//
// Rooms (docs/ROOMS.md): `room` is {id, kind, name} of the room the server put me in
// (`room_changed`); a move to "lobby" is being sent back to wait, which closes both PCs until the
// next `admitted`. Moderators get `rooms` on every change and keep `watching`, the rooms they look
// into without being there (the server's default: the witness room).
//
// Muted by the court: the server refuses our own unmute (`forbidden`); `mutedByCourt` says so
// and `raiseHand()` asks to speak (`raise_hand`); moderators keep the raised hands in `hands`.
//
// A screen share (evidence) is a second video publication beside the camera: its own
// transceiver on the publisher PC, labelled "screen" in `publish` (docs/PROTOCOL.md), added and
// taken away by renegotiating that PC. Its transceiver is kept (inactive) after a share stops and
// reused by the next one, so the offer never grows.

// What the "low bandwidth" switch sets on the camera's sender, and on a screen share's: a shared
// document keeps its full resolution (the court must be able to read it) and drops frames instead.
const LOW_BANDWIDTH = {
  camera: { maxBitrate: 150000, scaleResolutionDownBy: 2, maxFramerate: 10 },
  screen: { maxBitrate: 300000, scaleResolutionDownBy: 1, maxFramerate: 5 },
};

// How long a PC may take to connect before the participant and the court are told that audio
// and video did not get through (ICE/DTLS usually needs well under a second on a working link).
const MEDIA_DEADLINE_MS = 10000;

// The rooms a moderator looks into from the moment they join (the server's default, docs/ROOMS.md).
const WATCHED_BY_DEFAULT = ["witness"];

export class Session {
  constructor(token, stream, hearingId) {
    this.token = token;
    this.hearingId = hearingId; // the hearing the page's URL names: the server refuses a token of another
    this.stream = stream; // camera/mic from the device check (may lack either)
    this.handlers = {};
    this.socket = null;
    this.pubPc = null;
    this.subPc = null;
    this.me = null;
    this.hearing = null;
    this.participants = new Map(); // id -> Participant
    this.tracks = new Map(); // mid -> Track (publication info)
    this.receivers = new Map(); // mid -> MediaStreamTrack
    this.publications = new Map(); // publication id -> Publication
    this.videoOff = new Set(); // publication ids switched off for us only
    this.state = "connecting";
    this.final = false;
    this.lowBandwidth = false;
    this.screenTrack = null;
    this.cameraTransceiver = null;
    this.screenTransceiver = null;
    this.pubChain = Promise.resolve();
    this.subChain = Promise.resolve();
    this.retryTimer = null;
    this.rejoins = 0;
    this.mutedSelf = { audio: false, video: false };
    this.mutedByCourt = { audio: false, video: false };
    this.handRaised = false;
    this.hands = new Set(); // participant ids asking to speak (moderators only are told)
    this.finalKind = null;
    this.mediaFailed = new Set(); // "publisher"/"subscriber" PCs that did not connect in time
    this.mediaProblems = new Set(); // moderators: participant ids whose media did not connect
    this.room = null; // {id, kind, name}: where I am (null until the server says, or in the lobby)
    this.rooms = []; // moderators: [Room] as the server last sent them
    this.watching = new Set(WATCHED_BY_DEFAULT);
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => this.reconnectSoon(0));
  }

  on(name, fn) {
    (this.handlers[name] = this.handlers[name] || []).push(fn);
  }

  emitLocal(name, data) {
    for (const fn of this.handlers[name] || []) fn(data);
  }

  setState(state) {
    this.state = state;
    this.emitLocal("state", state);
  }

  get grants() {
    // The server's word once joined: a mediator moderates a mediation, not a court hearing.
    if (this.serverGrants) return this.serverGrants;
    const role = this.me && this.me.role;
    const moderate = role === "judge" || role === "clerk";
    return { moderate, publish: role !== "recorder" && role !== "viewer" };
  }

  // ---------------------------------------------------------------- socket
  start() {
    this.connect();
  }

  connect() {
    if (this.final) return;
    const socket = io({ path: "/socket.io/", transports: ["websocket"], reconnection: false });
    this.socket = socket;
    this.hands = new Set(); // the server tells a moderator the standing hands again on join
    this.watching = new Set(WATCHED_BY_DEFAULT); // a new socket starts from the server's default
    socket.on("connect", () => this.join(socket));
    socket.on("connect_error", () => this.lost(socket));
    socket.on("disconnect", () => this.lost(socket));
    socket.on("admitted", (d) => this.enterRoom(d));
    socket.on("subscriber_offer", (d) => this.queueSubscriberOffer(d));
    socket.on("subscriptions", (d) => this.setTracks(d.tracks));
    socket.on("participant_joined", (d) => this.upsert(d.participant));
    socket.on("participant_updated", (d) => this.upsert(d.participant));
    socket.on("participant_left", (d) => {
      this.participants.delete(d.participant_id);
      this.hands.delete(d.participant_id);
      this.mediaProblems.delete(d.participant_id);
      this.emitLocal("participants", this.participants);
    });
    socket.on("track_published", (d) => this.publications.set(d.publication.id, d.publication));
    socket.on("track_unpublished", (d) => this.publications.delete(d.publication_id));
    socket.on("track_muted", (d) => this.trackMuted(d));
    socket.on("active_speaker", (d) => this.emitLocal("speaker", d.participant_id));
    socket.on("lobby", (d) => this.emitLocal("lobby", d.waiting));
    socket.on("room_changed", (d) => this.roomChanged(d));
    socket.on("rooms", (d) => {
      this.rooms = d.rooms || [];
      this.emitLocal("rooms", this.rooms);
    });
    socket.on("hearing_state", (d) => this.emitLocal("hearing", d.hearing));
    socket.on("alarm", (d) => this.emitLocal("alarm", d));
    socket.on("media_reset", () => this.restartMedia());
    socket.on("removed", (d) => this.finish(d.reason === "replaced" ? "replaced" : "removed"));
    socket.on("denied", () => this.finish("denied"));
    socket.on("hearing_ended", () => this.finish("ended"));
    socket.on("media_status", (d) => {
      if (d.connected) this.mediaProblems.delete(d.participant_id);
      else this.mediaProblems.add(d.participant_id);
      this.emitLocal("participants", this.participants);
    });
    socket.on("hand_raised", (d) => {
      if (this.me && d.participant_id === this.me.id) this.handRaised = d.raised;
      if (!this.grants.moderate) return this.emitLocal("local", this.me);
      if (d.raised) this.hands.add(d.participant_id);
      else this.hands.delete(d.participant_id);
      this.emitLocal("hands", this.hands);
    });
  }

  join(socket) {
    socket.emit("join", { token: this.token, hearing_id: this.hearingId }, (ack) => {
      if (socket !== this.socket) return;
      if (!ack || !ack.ok) {
        // A refused token (revoked by remove/deny, expired, hearing ended) is final; anything
        // else is worth another try.
        if (ack && ["unauthorized", "forbidden", "conflict", "not_found"].includes(ack.code)) {
          this.finish(ack.code === "conflict" ? "ended" : "refused");
        } else {
          this.lost(socket);
        }
        return;
      }
      this.me = ack.participant;
      this.serverGrants = ack.grants || null;
      this.hearing = ack.hearing;
      this.emitLocal("hearing", ack.hearing);
      if (ack.state === "admitted") this.enterRoom(ack);
      else this.setState("lobby");
    });
  }

  lost(socket) {
    if (socket !== this.socket || this.final) return;
    this.socket = null;
    socket.removeAllListeners();
    socket.disconnect();
    this.closePcs();
    this.setState("reconnecting");
    this.reconnectSoon(Math.min(500 * 2 ** this.rejoins, 5000));
    this.rejoins += 1;
  }

  // The network went away (or a PC failed): drop everything and rejoin when possible.
  drop() {
    if (this.socket) this.lost(this.socket);
  }

  reconnectSoon(delay) {
    if (this.final || this.socket) return;
    clearTimeout(this.retryTimer);
    // Not gated on navigator.onLine: it is false on machines whose only network is loopback
    // (and a weak hint elsewhere); the "online" event only makes the next try come sooner.
    this.retryTimer = setTimeout(() => {
      if (!this.socket) this.connect();
    }, delay);
  }

  finish(kind) {
    if (this.final) return;
    this.final = true;
    this.finalKind = kind;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.closePcs();
    if (this.screenTrack) this.screenTrack.stop();
    this.stream.getTracks().forEach((t) => t.stop());
    this.setState("final");
    this.emitLocal("final", { kind });
  }

  call(event, payload) {
    return new Promise((resolve, reject) => {
      if (!this.socket) return reject(new Error("not connected"));
      this.socket.emit(event, payload, (ack) =>
        ack && ack.ok ? resolve(ack) : reject(Object.assign(new Error(ack && ack.error), ack)),
      );
    });
  }

  // ---------------------------------------------------------------- room
  enterRoom(data) {
    this.me = data.participant || this.me;
    this.participants = new Map();
    for (const p of data.participants || []) this.participants.set(p.id, p);
    this.publications = new Map((data.publications || []).map((p) => [p.id, p]));
    this.videoOff = new Set(); // a new SFU peer starts with every publication on
    this.rejoins = 0;
    this.setState("room");
    this.emitLocal("participants", this.participants);
    this.publish();
  }

  // `room_changed` {room, by, participants}: where I am now, and whom I see there.
  roomChanged({ room, participants, watching }) {
    if (room && room.id === "lobby") {
      // Sent back to wait: nothing of the hearing reaches us until admitted again.
      this.room = null;
      this.participants = new Map();
      this.closePcs();
      this.setState("lobby");
      return;
    }
    this.room = room || null;
    if (participants) this.participants = new Map(participants.map((p) => [p.id, p]));
    if (watching) this.watching = new Set(watching);
    this.emitLocal("room", this.room);
  }

  // Moderators' room actions (docs/ROOMS.md); each resolves with the ack or rejects with its error.
  openRoom(name) {
    return this.call("open_room", { name });
  }

  closeRoom(roomId) {
    return this.call("close_room", { room_id: roomId });
  }

  move(participantId, roomId) {
    return this.call("move", { participant_id: participantId, room_id: roomId });
  }

  async watchRoom(roomId, watching) {
    const ack = await this.call("watch_room", { room_id: roomId, watching });
    this.watching = new Set(ack.watching);
    this.emitLocal("rooms", this.rooms);
  }

  upsert(p) {
    if (this.me && p.id === this.me.id) {
      // participant_updated may be about me (e.g. masked): my own badge follows.
      Object.assign(this.me, p);
      this.emitLocal("local", this.me);
    }
    this.participants.set(p.id, p);
    this.emitLocal("participants", this.participants);
  }

  trackMuted(d) {
    const p = this.participants.get(d.participant_id);
    if (p) p.muted = Object.assign({}, p.muted, { [d.kind]: d.muted });
    if (this.me && d.participant_id === this.me.id) {
      this.me.muted = Object.assign({}, this.me.muted, { [d.kind]: d.muted });
      this.mutedByCourt[d.kind] = d.muted && d.by !== this.me.id;
      if (d.kind === "audio" && !d.muted) this.handRaised = false; // given the floor
      this.emitLocal("local", this.me);
    }
    for (const t of this.tracks.values()) if (t.publication_id === d.publication_id) t.muted = d.muted;
    this.emitLocal("participants", this.participants);
  }

  // ---------------------------------------------------------------- media
  newPc(target) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const socket = this.socket;
    pc.onicecandidate = (e) => {
      if (socket !== this.socket || !pc.trickleReady) return;
      const c = e.candidate;
      socket.emit("ice_candidate", {
        target,
        candidate: c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
      });
    };
    const deadline = setTimeout(() => this.mediaStatus(pc, target, false), MEDIA_DEADLINE_MS);
    pc.onconnectionstatechange = () => {
      const current = pc === this.pubPc || pc === this.subPc;
      if (pc.connectionState === "connected") {
        clearTimeout(deadline);
        this.mediaStatus(pc, target, true);
      }
      if (pc.connectionState === "failed" && current) {
        clearTimeout(deadline);
        this.mediaStatus(pc, target, false);
        // No ICE restart on the server side: a failed PC means a full rejoin.
        this.drop();
      }
      if (pc.connectionState === "closed") clearTimeout(deadline);
    };
    return pc;
  }

  // Tell the page and the server (which logs, counts and tells the court) whether a PC connected;
  // only changes are told: a failure once, and a success after one.
  mediaStatus(pc, target, connected) {
    if (pc !== this.pubPc && pc !== this.subPc) return;
    if (connected === !this.mediaFailed.has(target)) return;
    if (connected) this.mediaFailed.delete(target);
    else this.mediaFailed.add(target);
    this.emitLocal("media", this.mediaFailed);
    if (this.socket) this.socket.emit("media_status", { target, connected, state: pc.connectionState });
  }

  publish() {
    if (!this.grants.publish) return;
    if (!this.stream.getTracks().length && !this.screenTrack) return;
    const pc = this.newPc("publisher");
    this.pubPc = pc;
    this.cameraTransceiver = null;
    this.screenTransceiver = null;
    for (const track of [...this.stream.getAudioTracks(), ...this.stream.getVideoTracks()]) {
      const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
      if (track.kind === "video") this.cameraTransceiver = transceiver;
    }
    if (this.screenTrack) this.addScreenTransceiver(pc);
    this.negotiatePublisher(pc).then((ok) => {
      if (!ok) return;
      for (const kind of ["audio", "video"]) if (this.mutedSelf[kind]) this.setOwnMute(kind, true);
    });
  }

  addScreenTransceiver(pc) {
    const stream = new MediaStream([this.screenTrack]);
    this.screenTransceiver = pc.addTransceiver(this.screenTrack, { direction: "sendonly", streams: [stream] });
  }

  // One offer/answer at a time on the publisher PC: the first publish, a share started, a share
  // stopped. Resolves true once the answer is applied to this (still current) PC.
  negotiatePublisher(pc) {
    const step = this.pubChain.then(() => this.offerPublisher(pc));
    this.pubChain = step.catch(() => {});
    return step;
  }

  async offerPublisher(pc) {
    if (pc !== this.pubPc) return false;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sources = {};
    if (this.screenTransceiver && this.screenTransceiver.mid) sources[this.screenTransceiver.mid] = "screen";
    let answer;
    try {
      const pending = this.call("publish", { sdp: pc.localDescription.sdp, type: "offer", sources });
      pc.trickleReady = true; // candidates now follow the offer on the socket
      answer = await pending;
    } catch (err) {
      if (pc === this.pubPc) this.drop();
      return false;
    }
    if (pc !== this.pubPc) return false;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await this.applyBandwidth();
    return true;
  }

  queueSubscriberOffer(data) {
    this.subChain = this.subChain.then(() => this.answerSubscriber(data)).catch(() => this.drop());
  }

  async answerSubscriber(data) {
    if (!this.subPc) {
      const pc = this.newPc("subscriber");
      pc.ontrack = (e) => {
        this.receivers.set(e.transceiver.mid, e.track);
        this.emitLocal("tracks", this.tracks);
      };
      this.subPc = pc;
    }
    const pc = this.subPc;
    this.setTracks(data.tracks, false);
    await pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    const pending = this.call("subscriber_answer", { sdp: pc.localDescription.sdp, type: "answer" });
    pc.trickleReady = true;
    await pending;
    this.emitLocal("tracks", this.tracks);
  }

  // Each `tracks` list is complete: a mid it leaves out carries nothing now (its slot waits for
  // the next publication of that kind).
  setTracks(tracks, notify = true) {
    this.tracks = new Map((tracks || []).map((t) => [String(t.mid), t]));
    if (notify) this.emitLocal("tracks", this.tracks);
  }

  closePcs() {
    for (const pc of [this.pubPc, this.subPc]) if (pc) pc.close(); // its deadline ends with it
    this.pubPc = null;
    this.subPc = null;
    this.tracks = new Map();
    this.receivers = new Map();
    this.subChain = Promise.resolve();
    this.pubChain = Promise.resolve(); // an offer whose socket went away never gets its ack
    this.emitLocal("tracks", this.tracks);
  }

  restartMedia() {
    this.closePcs();
    this.publish();
  }

  // The remote MediaStreamTracks of one participant: {audio, video, screen} (live ones only);
  // "video" is the camera, "screen" a shared screen.
  remoteTracks(participantId) {
    const out = {};
    for (const [mid, info] of this.tracks) {
      const track = this.receivers.get(mid);
      if (info.participant_id !== participantId || !track) continue;
      out[info.source === "screen" ? "screen" : info.kind] = { track, info };
    }
    return out;
  }

  // ---------------------------------------------------------------- own controls
  async setOwnMute(kind, muted) {
    this.mutedSelf[kind] = muted;
    for (const t of this.stream.getTracks()) if (t.kind === kind) t.enabled = !muted;
    if (this.me && this.socket) {
      try {
        await this.call("mute", { participant_id: this.me.id, kind, muted });
      } catch (err) {
        // The court muted it: only a moderator can lift that (the server keeps dropping it, and
        // the track goes out as soon as they do); the page says so.
        if (!muted && err.code === "forbidden") this.mutedByCourt[kind] = true;
      }
    }
    this.emitLocal("local", this.me);
  }

  async raiseHand() {
    await this.call("raise_hand", {});
    this.handRaised = true;
    this.emitLocal("local", this.me);
  }

  lowerHand(participantId) {
    return this.call("lower_hand", { participant_id: participantId });
  }

  async shareScreen() {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const screen = display.getVideoTracks()[0];
    // The browser's own "stop sharing" ends the track: unpublish as the button would.
    screen.addEventListener("ended", () => this.stopScreen(screen));
    this.screenTrack = screen;
    this.emitLocal("local", this.me);
    const pc = this.pubPc;
    if (!pc) return; // published with the next PC (after a rejoin, or once admitted)
    if (this.screenTransceiver) {
      this.screenTransceiver.direction = "sendonly";
      await this.screenTransceiver.sender.replaceTrack(screen);
    } else {
      this.addScreenTransceiver(pc);
    }
    await this.negotiatePublisher(pc);
  }

  async stopScreen(which = this.screenTrack) {
    if (!which || which !== this.screenTrack) return;
    this.screenTrack = null;
    which.stop();
    this.emitLocal("local", this.me);
    const pc = this.pubPc;
    if (!pc || !this.screenTransceiver) return;
    await this.screenTransceiver.sender.replaceTrack(null);
    this.screenTransceiver.direction = "inactive";
    await this.negotiatePublisher(pc);
  }

  async setLowBandwidth(on) {
    this.lowBandwidth = on;
    await this.applyBandwidth();
  }

  async applyBandwidth() {
    const senders = [
      [this.cameraTransceiver, LOW_BANDWIDTH.camera],
      [this.screenTransceiver, LOW_BANDWIDTH.screen],
    ];
    for (const [transceiver, low] of senders) {
      if (!transceiver || !transceiver.sender.track) continue;
      const sender = transceiver.sender;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) params.encodings = [{}];
      for (const enc of params.encodings) {
        for (const key of Object.keys(low)) {
          if (this.lowBandwidth) enc[key] = low[key];
          else delete enc[key];
        }
        if (!this.lowBandwidth) enc.scaleResolutionDownBy = 1;
      }
      await sender.setParameters(params);
    }
  }

  async setVideoOff(publicationId, off) {
    await this.call("pause_subscription", { publication_id: publicationId, paused: off });
    if (off) this.videoOff.add(publicationId);
    else this.videoOff.delete(publicationId);
    this.emitLocal("tracks", this.tracks);
  }
}
