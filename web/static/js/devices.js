// Device check: which of camera/microphone exist and may be used, a camera preview, a
// microphone level meter and a speaker test tone. Results are statuses, never text: the page
// shows them through the translation tables ("devices.status.<status>").
//   const result = await checkDevices();   // {stream, camera, microphone}: "ok"|"missing"|"blocked"|"error"
//   const stop = meter(stream, onLevel);   // onLevel(0..1) about 10×/s; stop() ends it
//   await testTone();                      // 1 s, 440 Hz, on the default output

function statusOf(err) {
  if (!err) return "ok";
  if (err.name === "NotFoundError" || err.name === "OverconstrainedError") return "missing";
  if (err.name === "NotAllowedError" || err.name === "SecurityError") return "blocked";
  return "error";
}

async function tryOpen(constraints) {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(constraints), error: null };
  } catch (error) {
    return { stream: null, error };
  }
}

export async function checkDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: new MediaStream(), camera: "error", microphone: "error" };
  }
  const devices = await navigator.mediaDevices.enumerateDevices();
  const has = (kind) => devices.some((d) => d.kind === kind);
  // Ask for each kind separately, so that a missing camera does not take the microphone with it.
  const video = has("videoinput")
    ? await tryOpen({ video: { width: { ideal: 640 }, height: { ideal: 480 } } })
    : { stream: null, error: { name: "NotFoundError" } };
  const audio = has("audioinput")
    ? await tryOpen({ audio: { echoCancellation: true, noiseSuppression: true } })
    : { stream: null, error: { name: "NotFoundError" } };
  const stream = new MediaStream();
  for (const s of [audio.stream, video.stream]) if (s) s.getTracks().forEach((t) => stream.addTrack(t));
  return { stream, camera: statusOf(video.error), microphone: statusOf(audio.error) };
}

let audioContext = null;
function context() {
  audioContext = audioContext || new AudioContext();
  if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
  return audioContext;
}

export function meter(stream, onLevel) {
  if (!stream.getAudioTracks().length) return () => {};
  const ctx = context();
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    onLevel(Math.min(1, peak / 64));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
  };
}

export function resumeAudio() {
  context();
}

export function testTone() {
  const ctx = context();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = 440;
  gain.gain.value = 0.2;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 1);
  return new Promise((resolve) => (osc.onended = resolve));
}
