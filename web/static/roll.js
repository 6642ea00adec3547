// web/static/roll.js: the piano roll and the small WebAudio synth shared by the compose
// page of `melodl serve` (compose.js) and the "compose now" panel of the live training
// view (app.js). Notes are {pitch, start, end, voice, primer} in seconds, as the servers
// send them (docs/serve.md "API").
'use strict';
window.melodlRoll = (function () {
  const colors = { primer: '#f5b942', 0: '#4fa3ff', 1: '#6fdc8c' };
  const hz = (p) => 440 * Math.pow(2, (p - 69) / 12);

  // A synth keeping its state (ctx, voices, playEnd, playFrom, playStart) on `s`.
  function player(s) {
    s.ctx = s.ctx || null;
    s.voices = s.voices || [];
    s.playEnd = s.playEnd || 0;
    function audio() {
      if (!s.ctx) s.ctx = new (window.AudioContext || window.webkitAudioContext)();
      if (s.ctx.state === 'suspended') s.ctx.resume();
      return s.ctx;
    }
    // One note from `at` (context seconds) for `dur` seconds (open-ended when dur is null).
    function tone(pitch, at, dur, voice) {
      const ctx = audio();
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = voice === 1 ? 'sine' : 'triangle';
      osc.frequency.value = hz(pitch);
      gain.gain.setValueAtTime(0, at);
      gain.gain.linearRampToValueAtTime(0.25, at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.12, at + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      const v = { osc, gain, stop(t) {
        gain.gain.cancelScheduledValues(t);
        gain.gain.setValueAtTime(gain.gain.value, t);
        gain.gain.linearRampToValueAtTime(0, t + 0.05);
        osc.stop(t + 0.06);
      } };
      if (dur != null) v.stop(at + Math.max(0.05, dur));
      s.voices.push(v);
      return v;
    }
    function stopAll() {
      const ctx = s.ctx;
      if (!ctx) return;
      for (const v of s.voices) { try { v.stop(ctx.currentTime); } catch (e) { /* ended */ } }
      s.voices = [];
      s.playEnd = 0;
    }
    // Plays the notes starting with the one at time `from`; returns their seconds.
    function play(notes, from) {
      stopAll();
      const ctx = audio(), t = ctx.currentTime + 0.05;
      let end = 0;
      for (const n of notes) {
        if (n.start < from - 1e-9) continue;
        tone(n.pitch, t + n.start - from, n.end - n.start, n.voice);
        end = Math.max(end, n.end - from);
      }
      s.playEnd = t + end;
      s.playFrom = from;
      s.playStart = t;
      return end;
    }
    return { audio, tone, stopAll, play };
  }

  // Draws the notes on the canvas, with the play cursor of `s` (a player's state, or null)
  // while it plays; returns true while it does (draw again on the next frame).
  function draw(canvas, notes, s) {
    const g = canvas.getContext('2d');
    const W = canvas.width, H = canvas.height;
    g.fillStyle = '#0e1014';
    g.fillRect(0, 0, W, H);
    if (!notes.length) return false;
    let lo = 127, hi = 0, end = 0;
    for (const n of notes) { lo = Math.min(lo, n.pitch); hi = Math.max(hi, n.pitch); end = Math.max(end, n.end); }
    lo -= 2; hi += 2;
    const x = (t) => 4 + (W - 8) * t / Math.max(end, 1e-3);
    const rowH = H / (hi - lo + 1);
    g.strokeStyle = '#1d2129';
    for (let p = lo; p <= hi; p++) if (p % 12 === 0) {
      const y = H - (p - lo + 1) * rowH;
      g.beginPath(); g.moveTo(0, y + rowH); g.lineTo(W, y + rowH); g.stroke();
    }
    for (const n of notes) {
      g.fillStyle = n.primer ? colors.primer : colors[n.voice] || colors[0];
      g.fillRect(x(n.start), H - (n.pitch - lo + 1) * rowH + 1, Math.max(2, x(n.end) - x(n.start) - 1),
        Math.max(2, rowH - 2));
    }
    const ctx = s && s.ctx;
    if (!ctx || ctx.currentTime >= s.playEnd) return false;
    g.fillStyle = '#fff';
    g.fillRect(x(s.playFrom + ctx.currentTime - s.playStart), 0, 2, H);
    return true;
  }

  const names = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
  // "C4", "F#3": the note name of a MIDI key (60 = C4).
  const noteName = (p) => names[p % 12] + (Math.floor(p / 12) - 1);

  const spoken = ['C', 'C sharp', 'D', 'D sharp', 'E', 'F', 'F sharp', 'G', 'G sharp', 'A', 'A sharp', 'B'];
  // "C sharp 4": the name a screen reader reads for a key (aria-label).
  const spokenName = (p) => spoken[p % 12] + ' ' + (Math.floor(p / 12) - 1);

  return { colors, player, draw, noteName, spokenName };
})();
