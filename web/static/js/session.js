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
// "tracks", "lobby", "speaker", "alarm", "hearing", "local".

const LOW_BANDWIDTH = { maxBitrate: 150000, scaleResolutionDownBy: 2, maxFramerate: 10 };

export class Session {
  constructor(token, stream) {
    this.token = token;
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
    this.subChain = Promise.resolve();
    this.retryTimer = null;
    this.rejoins = 0;
    this.mutedSelf = { audio: false, video: false };
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
    socket.on("connect", () => this.join(socket));
    socket.on("connect_error", () => this.lost(socket));
    socket.on("disconnect", () => this.lost(socket));
    socket.on("admitted", (d) => this.enterRoom(d));
    socket.on("subscriber_offer", (d) => this.queueSubscriberOffer(d));
    socket.on("subscriptions", (d) => this.setTracks(d.tracks));
    socket.on("participant_joined", (d) => this.upsert(d.participant));
    socket.on("participant_left", (d) => {
      this.participants.delete(d.participant_id);
      this.emitLocal("participants", this.participants);
    });
    socket.on("track_published", (d) => this.publications.set(d.publication.id, d.publication));
    socket.on("track_unpublished", (d) => this.publications.delete(d.publication_id));
    socket.on("track_muted", (d) => this.trackMuted(d));
    socket.on("active_speaker", (d) => this.emitLocal("speaker", d.participant_id));
    socket.on("lobby", (d) => this.emitLocal("lobby", d.waiting));
    socket.on("hearing_state", (d) => this.emitLocal("hearing", d.hearing));
    socket.on("alarm", (d) => this.emitLocal("alarm", d));
    socket.on("media_reset", () => this.restartMedia());
    socket.on("removed", (d) => this.finish(d.reason === "replaced" ? "replaced" : "removed"));
    socket.on("denied", () => this.finish("denied"));
    socket.on("hearing_ended", () => this.finish("ended"));
  }

  join(socket) {
    socket.emit("join", { token: this.token }, (ack) => {
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

  upsert(p) {
    this.participants.set(p.id, p);
    this.emitLocal("participants", this.participants);
  }

  trackMuted(d) {
    const p = this.participants.get(d.participant_id);
    if (p) p.muted = Object.assign({}, p.muted, { [d.kind]: d.muted });
    if (this.me && d.participant_id === this.me.id) {
      this.me.muted = Object.assign({}, this.me.muted, { [d.kind]: d.muted });
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
    pc.onconnectionstatechange = () => {
      // No ICE restart on the server side: a failed PC means a full rejoin.
      if (pc.connectionState === "failed" && (pc === this.pubPc || pc === this.subPc)) this.drop();
    };
    return pc;
  }

  async publish() {
    if (!this.grants.publish) return;
    const tracks = this.stream.getTracks();
    if (!tracks.length) return;
    const pc = this.newPc("publisher");
    this.pubPc = pc;
    for (const track of [...this.stream.getAudioTracks(), ...this.stream.getVideoTracks()]) {
      const sending = track.kind === "video" && this.screenTrack ? this.screenTrack : track;
      pc.addTransceiver(sending, { direction: "sendonly", streams: [this.stream] });
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    let answer;
    try {
      const pending = this.call("publish", { sdp: pc.localDescription.sdp, type: "offer" });
      pc.trickleReady = true; // candidates now follow the offer on the socket
      answer = await pending;
    } catch (err) {
      if (pc === this.pubPc) this.drop();
      return;
    }
    if (pc !== this.pubPc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await this.applyBandwidth();
    for (const kind of ["audio", "video"]) if (this.mutedSelf[kind]) this.setOwnMute(kind, true);
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

  setTracks(tracks, notify = true) {
    for (const t of tracks || []) this.tracks.set(String(t.mid), t);
    if (notify) this.emitLocal("tracks", this.tracks);
  }

  closePcs() {
    for (const pc of [this.pubPc, this.subPc]) if (pc) pc.close();
    this.pubPc = null;
    this.subPc = null;
    this.tracks = new Map();
    this.receivers = new Map();
    this.subChain = Promise.resolve();
    this.emitLocal("tracks", this.tracks);
  }

  restartMedia() {
    this.closePcs();
    this.publish();
  }

  // The remote MediaStreamTracks of one participant: {audio, video} (live ones only).
  remoteTracks(participantId) {
    const out = {};
    for (const [mid, info] of this.tracks) {
      const track = this.receivers.get(mid);
      if (info.participant_id === participantId && track) out[info.kind] = { track, info };
    }
    return out;
  }

  // ---------------------------------------------------------------- own controls
  sender(kind) {
    if (!this.pubPc) return null;
    return this.pubPc.getSenders().find((s) => s.track && s.track.kind === kind) || null;
  }

  async setOwnMute(kind, muted) {
    this.mutedSelf[kind] = muted;
    for (const t of this.stream.getTracks()) if (t.kind === kind) t.enabled = !muted;
    if (this.me && this.socket) {
      await this.call("mute", { participant_id: this.me.id, kind, muted }).catch(() => {});
    }
    this.emitLocal("local", this.me);
  }

  async shareScreen() {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    this.screenTrack = display.getVideoTracks()[0];
    this.screenTrack.addEventListener("ended", () => this.stopScreen());
    const sender = this.sender("video");
    if (sender) await sender.replaceTrack(this.screenTrack);
    this.emitLocal("local", this.me);
  }

  async stopScreen() {
    if (!this.screenTrack) return;
    const screen = this.screenTrack;
    this.screenTrack = null;
    screen.stop();
    const sender = this.sender("video");
    const camera = this.stream.getVideoTracks()[0];
    if (sender && camera) await sender.replaceTrack(camera);
    this.emitLocal("local", this.me);
  }

  async setLowBandwidth(on) {
    this.lowBandwidth = on;
    await this.applyBandwidth();
  }

  async applyBandwidth() {
    const sender = this.sender("video");
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    for (const enc of params.encodings) {
      for (const key of Object.keys(LOW_BANDWIDTH)) {
        if (this.lowBandwidth) enc[key] = LOW_BANDWIDTH[key];
        else delete enc[key];
      }
      if (!this.lowBandwidth) enc.scaleResolutionDownBy = 1;
    }
    await sender.setParameters(params);
  }

  async setVideoOff(publicationId, off) {
    await this.call("pause_subscription", { publication_id: publicationId, paused: off });
    if (off) this.videoOff.add(publicationId);
    else this.videoOff.delete(publicationId);
    this.emitLocal("tracks", this.tracks);
  }
}
