// web/static/compose.js: the page of `melodl serve` (docs/serve.md). Pick a model, play a
// primer on the virtual keyboard (mouse, touch, computer keys A W S E D ... K, Z/X octave)
// or a MIDI keyboard (Web MIDI), compose (POST /api/compose), see the piano roll, listen
// (a small WebAudio synth) and download the MIDI and WAV files. "Call and response":
// after a pause the model answers the phrase, the page plays the answer, and it listens
// again until stopped. compose.html?selftest=1 runs the end-to-end checks of tests/web/
// (serve_e2e_test.cpp) and POSTs them to /api/report.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const token = (document.querySelector('meta[name="melodl-token"]') || {}).content || '';
  const kLow = 48, kHigh = 84;        // keys drawn: C3 .. C6
  const kPause = 1.2;                 // seconds of silence that end a phrase (call and response)
  const kColors = melodlRoll.colors;
  const state = {
    models: [], primer: [], downs: new Map(), t0: null, octave: 0, result: null, piece: 0,
    ctx: null, voices: [], playEnd: 0, rounds: 0, phraseTimer: null, busy: false,
  };
  window.melodlCompose = state;

  function status(text, error) {
    $('status').textContent = text;
    $('status').className = error ? 'error' : '';
  }

  // --- models ---
  async function loadModels() {
    const r = await fetch('api/models');
    state.models = (await r.json()).models;
    $('model').innerHTML = '';
    for (const m of state.models) {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent = `${m.name} (${m.kind})`;
      $('model').appendChild(o);
    }
    showCard();
  }
  function model() { return state.models.find((m) => m.name === $('model').value); }
  // A style-conditioned model composes "in the style of" one of its corpora: offer them.
  function showStyles() {
    const styles = (model() && model().styles) || [];
    $('style-label').hidden = styles.length === 0;
    $('style').innerHTML = '';
    for (const s of styles) {
      const o = document.createElement('option');
      o.value = s;
      o.textContent = s;
      $('style').appendChild(o);
    }
  }
  function showCard() {
    showStyles();
    const m = model();
    if (!m) { $('card').textContent = 'no model'; return; }
    const bits = m.valid_bits_per_note == null ? 'unknown' : m.valid_bits_per_note.toFixed(2);
    $('card').textContent = `${m.kind} · ${m.layers} × ${m.hidden} LSTM, ` +
      `${(m.parameters / 1000).toFixed(0)}k parameters · corpus: ${m.corpus || 'unknown'} · ` +
      `validation ${bits} bits/note · ${m.epochs} epochs · trained ${m.trained.slice(0, 10)}`;
  }
  $('model').addEventListener('change', showCard);

  // --- settings ---
  for (const [id, digits] of [['temperature', 2], ['length', 0], ['count', 0]]) {
    const show = () => { $(id + '-out').textContent = Number($(id).value).toFixed(digits); };
    $(id).addEventListener('input', show);
    show();
  }
  $('dice').addEventListener('click', () => { $('seed').value = Math.floor(Math.random() * 1e9); });

  // --- synth (WebAudio, roll.js) ---
  const player = melodlRoll.player(state);
  const audio = player.audio, tone = player.tone, stopAll = player.stopAll;
  // Plays notes (from /api/compose) starting with the one at time `from`; returns seconds.
  function playNotes(notes, from) {
    const end = player.play(notes, from);
    requestAnimationFrame(drawRoll);
    return end;
  }

  // --- keyboard: virtual, computer keys, Web MIDI ---
  const keyCodes = ['KeyA', 'KeyW', 'KeyS', 'KeyE', 'KeyD', 'KeyF', 'KeyT', 'KeyG', 'KeyY',
    'KeyH', 'KeyU', 'KeyJ', 'KeyK', 'KeyO', 'KeyL', 'KeyP', 'Semicolon'];
  const keyEls = new Map();
  const sounding = new Map();
  function buildKeyboard() {
    const kb = $('keyboard');
    const whites = [];
    for (let p = kLow; p <= kHigh; p++) if (![1, 3, 6, 8, 10].includes(p % 12)) whites.push(p);
    const w = 100 / whites.length;
    for (let p = kLow; p <= kHigh; p++) {
      const black = [1, 3, 6, 8, 10].includes(p % 12);
      const el = document.createElement('div');
      el.className = 'key ' + (black ? 'black' : 'white');
      const left = black ? whites.indexOf(p - 1) * w + w * 0.65 : whites.indexOf(p) * w;
      el.style.left = left + '%';
      el.style.width = (black ? w * 0.7 : w) + '%';
      el.dataset.pitch = p;
      // One Tab stop for the whole keyboard (a roving tabindex, middle C first); the arrow
      // keys move between all keys, black ones included (keyboardNav below).
      el.tabIndex = p === 60 ? 0 : -1;
      el.setAttribute('role', 'button');
      el.setAttribute('aria-label', melodlRoll.spokenName(p) + (black ? ', black key' : ', white key'));
      el.title = melodlRoll.noteName(p);
      if (p % 12 === 0) el.innerHTML = `<span>C${p / 12 - 1}</span>`;
      el.addEventListener('pointerdown', (e) => {
        e.preventDefault();
        rove(p, false);
        noteOn(p);
        try { el.releasePointerCapture(e.pointerId); } catch (x) { /* a synthetic event */ }
      });
      for (const ev of ['pointerup', 'pointercancel', 'pointerleave'])
        el.addEventListener(ev, () => noteOff(p));
      kb.appendChild(el);
      keyEls.set(p, el);
    }
  }
  function noteOn(pitch) {
    if (state.downs.has(pitch)) return;
    clearTimeout(state.phraseTimer);
    const now = performance.now() / 1000;
    if (state.t0 === null || state.primer.length === 0 && state.downs.size === 0) state.t0 = now;
    state.downs.set(pitch, now - state.t0);
    sounding.set(pitch, tone(pitch, audio().currentTime, null, 0));
    const el = keyEls.get(pitch);
    if (el) el.classList.add('down');
  }
  function noteOff(pitch) {
    if (!state.downs.has(pitch)) return;
    const start = state.downs.get(pitch);
    state.downs.delete(pitch);
    const v = sounding.get(pitch);
    if (v) { v.stop(audio().currentTime); sounding.delete(pitch); }
    const el = keyEls.get(pitch);
    if (el) el.classList.remove('down');
    const now = performance.now() / 1000 - state.t0;
    state.primer.push({ pitch, start: Math.round(start * 1000) / 1000,
      duration: Math.max(0.05, Math.round((now - start) * 1000) / 1000) });
    state.primer.sort((a, b) => a.start - b.start);
    showPrimer();
    if ($('respond').checked && state.downs.size === 0)
      state.phraseTimer = setTimeout(respond, kPause * 1000);
  }
  function showPrimer() {
    const n = state.primer.length;
    $('primer-info').textContent = n === 0
      ? 'Primer: no notes (play the keyboard, or compose from nothing)'
      : `Primer: ${n} note${n > 1 ? 's' : ''} over ` +
        `${(state.primer[n - 1].start + state.primer[n - 1].duration).toFixed(2)} s`;
    if (!state.result) drawRoll();
  }
  $('clear').addEventListener('click', () => {
    state.primer = []; state.t0 = null; state.result = null; state.primerMidi = null;
    $('midifile').value = '';
    showPrimer(); drawRoll();
  });
  // A MIDI file as the primer: its highest voice (the server picks it), sent in base64.
  $('midifile').addEventListener('change', async () => {
    const f = $('midifile').files[0];
    if (!f) return;
    const bytes = new Uint8Array(await f.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 8192) bin += String.fromCharCode(...bytes.subarray(i, i + 8192));
    state.primerMidi = btoa(bin);
    state.primer = [];
    $('primer-info').textContent = `Primer: the highest voice of ${f.name} (${bytes.length} bytes)`;
  });
  // Keyboard access to the virtual keys: Tab enters the keyboard on one key; Left/Right
  // move a semitone (black keys included), Up/Down an octave, Home/End to the ends; Enter or
  // Space plays the focused key for as long as it is held.
  const isKey = (t) => !!(t && t.classList && t.classList.contains('key'));
  let roving = 60, held = null;
  function rove(pitch, focus) {
    const to = Math.max(kLow, Math.min(kHigh, pitch));
    const from = keyEls.get(roving), el = keyEls.get(to);
    if (from) from.tabIndex = -1;
    el.tabIndex = 0;
    roving = to;
    if (focus) el.focus();
  }
  function release() {
    if (held !== null) noteOff(held);
    held = null;
  }
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -12, ArrowUp: 12 };
  $('keyboard').addEventListener('keydown', (e) => {
    if (!isKey(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    const p = +e.target.dataset.pitch;
    let to = null;
    if (e.key in moves) to = p + moves[e.key];
    else if (e.key === 'Home') to = kLow;
    else if (e.key === 'End') to = kHigh;
    if (to === null) return;
    e.preventDefault();
    release();
    rove(to, true);
  });
  $('keyboard').addEventListener('focusout', release);
  const activates = (e) => (e.key === 'Enter' || e.key === ' ') && isKey(e.target);
  const typing = (e) => ['INPUT', 'SELECT', 'TEXTAREA'].includes(e.target.tagName);
  document.addEventListener('keydown', (e) => {
    if (activates(e)) e.preventDefault();  // Space would scroll the page, also when repeated
    if (typing(e) || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.code === 'KeyZ') { state.octave = Math.max(-1, state.octave - 1); return; }
    if (e.code === 'KeyX') { state.octave = Math.min(1, state.octave + 1); return; }
    const k = keyCodes.indexOf(e.code);
    if (k >= 0) { e.preventDefault(); noteOn(60 + 12 * state.octave + k); }
    if (activates(e)) { release(); held = +e.target.dataset.pitch; noteOn(held); }
  });
  document.addEventListener('keyup', (e) => {
    const k = keyCodes.indexOf(e.code);
    if (k >= 0) noteOff(60 + 12 * state.octave + k);
    if (e.key === 'Enter' || e.key === ' ') release();
  });
  if (navigator.requestMIDIAccess) {
    navigator.requestMIDIAccess().then((access) => {
      const hook = () => {
        const names = [];
        for (const input of access.inputs.values()) {
          names.push(input.name);
          input.onmidimessage = (m) => {
            const [st, pitch, vel] = m.data;
            if ((st & 0xf0) === 0x90 && vel > 0) noteOn(pitch);
            else if ((st & 0xf0) === 0x80 || (st & 0xf0) === 0x90) noteOff(pitch);
          };
        }
        $('midi-in').textContent = 'MIDI input: ' + (names.join(', ') || 'none');
      };
      access.onstatechange = hook;
      hook();
    }, () => { $('midi-in').textContent = 'MIDI input: not allowed'; });
  }

  // --- composing ---
  function request() {
    const body = {
      model: $('model').value, temperature: +$('temperature').value, length: +$('length').value,
      count: +$('count').value, seed: +$('seed').value, top_k: +$('topk').value,
      tempo: +$('tempo').value, program: +$('program').value,
    };
    if (!$('style-label').hidden && $('style').value) body.style = $('style').value;
    if (state.primer.length) body.primer = state.primer;
    else if (state.primerMidi) body.primer_midi = state.primerMidi;
    return body;
  }
  async function compose() {
    if (state.busy) return null;
    state.busy = true;
    status('composing…');
    try {
      const r = await fetch('api/compose', {
        method: 'POST', body: JSON.stringify(request()),
        headers: { 'Content-Type': 'application/json', 'X-Melodl-Token': token },
      });
      const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
      if (!r.ok) {
        status(`${r.status}: ${j.error}`, true);
        return null;
      }
      state.result = j;
      state.piece = 0;
      status(`${j.pieces.length} piece(s) from ${j.model} in ${j.compose_ms.toFixed(1)} ms`);
      showResult();
      return j;
    } catch (e) {
      status(String(e), true);
      return null;
    } finally {
      state.busy = false;
    }
  }
  function showResult() {
    const j = state.result;
    $('pieces').innerHTML = '';
    j.pieces.forEach((p, k) => {
      const b = document.createElement('button');
      b.textContent = `Piece ${k + 1}`;
      b.addEventListener('click', () => { state.piece = k; showResult(); });
      if (k === state.piece) b.style.borderColor = '#7bf';
      $('pieces').appendChild(b);
    });
    const p = j.pieces[state.piece];
    $('downloads').innerHTML = '';
    for (const [what, url] of [['MIDI', p.midi], ['WAV', p.wav]]) {
      if (!url) continue;
      const a = document.createElement('a');
      a.href = url;
      a.textContent = `Download ${what}`;
      a.download = `melodl-${j.model}-${state.piece + 1}.${what === 'MIDI' ? 'mid' : 'wav'}`;
      $('downloads').appendChild(a);
    }
    $('symbols').textContent = p.symbols;
    drawRoll();
  }
  $('compose').addEventListener('click', compose);
  $('playbtn').addEventListener('click', () => {
    if (state.result) playNotes(state.result.pieces[state.piece].notes, 0);
  });
  $('stop').addEventListener('click', () => {
    stopAll();
    $('respond').checked = false;
    clearTimeout(state.phraseTimer);
  });

  // Call and response: the phrase just played is the primer; the answer is played from
  // the first note the model added; then the page listens for the next phrase.
  async function respond() {
    if (!$('respond').checked || state.primer.length === 0 || state.downs.size) return;
    const j = await compose();
    if (!j) return;
    const notes = j.pieces[0].notes, first = notes.find((n) => !n.primer);
    state.rounds++;
    if (first) state.lastAnswer = playNotes(notes, first.start);
    state.primer = [];
    state.t0 = null;
    showPrimer();
  }

  // --- piano roll ---
  function drawRoll() {
    const notes = state.result ? state.result.pieces[state.piece].notes
      : state.primer.map((n) => ({ pitch: n.pitch, start: n.start, end: n.start + n.duration,
        voice: 0, primer: true }));
    if (melodlRoll.draw($('roll'), notes, state.result ? state : null)) requestAnimationFrame(drawRoll);
  }

  // --- self-test (compose.html?selftest=1, run by tests/web/serve_e2e_test.cpp) ---
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  function countColor(hex) {
    const c = $('roll'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i] === want[0] && d[i + 1] === want[1] && d[i + 2] === want[2]) n++;
    return n;
  }
  async function press(pitch, ms) {
    const el = keyEls.get(pitch);
    el.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true }));
    await sleep(ms);
    el.dispatchEvent(new PointerEvent('pointerup', { bubbles: true }));
    await sleep(60);
  }
  async function selftest() {
    const checks = [];
    const check = (name, ok, detail) => checks.push({ name, ok: !!ok, detail: String(detail) });
    const report = {};
    try {
      check('models', state.models.length >= 1, state.models.map((m) => m.name).join(','));
      const melody = state.models.find((m) => m.kind === 'melody');
      $('model').value = melody.name;
      $('model').dispatchEvent(new Event('change'));
      check('card', $('card').textContent.includes('bits/note'), $('card').textContent);
      check('no style menu', $('style-label').hidden && !('style' in request()), melody.name);
      $('length').value = 200;
      for (const p of [60, 62, 64, 65, 67]) await press(p, 150);
      check('primer recorded', state.primer.length === 5 &&
        state.primer.every((n, i) => i === 0 || n.start > state.primer[i - 1].start),
      JSON.stringify(state.primer));
      const j = await compose();
      check('composed', j && j.pieces.length === 1, $('status').textContent);
      const notes = j.pieces[0].notes;
      check('primer first', notes.slice(0, 5).map((n) => n.pitch).join() === '60,62,64,65,67' &&
        notes.slice(0, 5).every((n) => n.primer), notes.slice(0, 6).map((n) => n.pitch).join());
      check('new notes', notes.some((n) => !n.primer), notes.length);
      check('roll primer', countColor(kColors.primer) > 10, countColor(kColors.primer));
      check('roll new notes', countColor(kColors[0]) > 50, countColor(kColors[0]));
      const secs = playNotes(notes, 0);
      const t0 = audio().currentTime;
      await sleep(400);
      check('audio plays', secs > 0 && audio().currentTime > t0 && state.voices.length > 0,
        `${secs.toFixed(2)} s, context ${audio().state}, ${state.voices.length} voices`);
      stopAll();
      const mid = await fetch(j.pieces[0].midi);
      const bytes = new Uint8Array(await mid.arrayBuffer());
      check('midi download', mid.ok && String.fromCharCode(...bytes.slice(0, 4)) === 'MThd',
        `${mid.status}, ${bytes.length} bytes`);
      report.midi = j.pieces[0].midi;
      // Call and response, one round.
      $('respond').checked = true;
      const rounds = state.rounds;
      for (const p of [67, 65, 64]) await press(p, 120);
      for (let i = 0; i < 50 && state.rounds === rounds; i++) await sleep(100);
      check('call and response', state.rounds === rounds + 1 && state.lastAnswer > 0 &&
        state.primer.length === 0, `${state.rounds - rounds} round(s), answer ${state.lastAnswer} s`);
      $('respond').checked = false;
      stopAll();
      const harmony = state.models.find((m) => m.kind === 'harmony');
      if (harmony) {
        $('model').value = harmony.name;
        $('model').dispatchEvent(new Event('change'));
        state.primer = [];
        $('length').value = 400;
        const h = await compose();
        const voices = new Set(h ? h.pieces[0].notes.map((n) => n.voice) : []);
        check('harmony two voices', voices.has(0) && voices.has(1) &&
          countColor(kColors[1]) > 20 && countColor(kColors[0]) > 20, [...voices].join());
        report.harmony_midi = h && h.pieces[0].midi;
      }
      // A style-conditioned model: its styles in a menu, the chosen one in the request.
      const styled = state.models.find((m) => m.styles && m.styles.length > 1);
      if (styled) {
        $('model').value = styled.name;
        $('model').dispatchEvent(new Event('change'));
        const options = [...$('style').options].map((o) => o.value);
        $('style').value = styled.styles[1];
        state.primer = [];
        $('length').value = 120;
        const s = await compose();
        check('style menu', !$('style-label').hidden && options.join() === styled.styles.join() &&
          request().style === styled.styles[1] && s && s.pieces[0].notes.length > 0,
        `options ${options}, request style ${request().style}, ${$('status').textContent}`);
      }
      // Keyboard access: one Tab stop, arrows reach the black keys, Enter and Space play.
      const keys = [...keyEls.values()];
      const blacks = keys.filter((el) => el.classList.contains('black'));
      const key = (type, k, el) => el.dispatchEvent(new KeyboardEvent(type, { key: k, bubbles: true }));
      state.primer = []; state.result = null;
      keyEls.get(60).focus();
      key('keydown', 'ArrowRight', document.activeElement);
      const onBlack = document.activeElement === keyEls.get(61);
      key('keydown', 'Enter', document.activeElement);
      await sleep(120);
      key('keyup', 'Enter', document.activeElement);
      key('keydown', 'ArrowUp', document.activeElement);
      const upOctave = document.activeElement === keyEls.get(73);
      key('keydown', ' ', document.activeElement);
      await sleep(120);
      key('keyup', ' ', document.activeElement);
      const ring = getComputedStyle(keyEls.get(73));
      check('keyboard access', keys.every((el) => el.getAttribute('role') === 'button' && el.getAttribute('aria-label')) &&
        blacks.length === 15 && blacks.every((el) => el.getAttribute('aria-label').includes('sharp') &&
          el.getAttribute('aria-label').includes('black key')) &&
        keys.filter((el) => el.tabIndex === 0).length === 1 && keyEls.get(73).tabIndex === 0 &&
        onBlack && upOctave && state.primer.map((n) => n.pitch).join() === '61,73' && state.downs.size === 0,
      `black on ArrowRight ${onBlack}, octave up ${upOctave}, primer ${state.primer.map((n) => n.pitch)}, ` +
        `label "${keyEls.get(73).getAttribute('aria-label')}", outline ${ring.outlineStyle} ${ring.outlineColor}`);
      check('token', /^[0-9a-f]{32}$/.test(token), `${token.length} characters`);
    } catch (e) {
      check('exception', false, e && e.stack || e);
    }
    report.ok = checks.every((c) => c.ok);
    report.checks = checks;
    await fetch('api/report', { method: 'POST', body: JSON.stringify(report),
      headers: { 'Content-Type': 'application/json', 'X-Melodl-Token': token } });
  }

  buildKeyboard();
  drawRoll();
  loadModels().then(() => {
    const q = new URLSearchParams(location.search);
    if (q.get('selftest') === '1') selftest();
    if (q.get('demo') === '1') {  // the screenshot of docs/serve.md: a primer and its answer
      state.primer = [60, 62, 64, 65, 67].map((p, i) => ({ pitch: p, start: 0.3 * i, duration: 0.25 }));
      showPrimer();
      compose();
    }
  }, (e) => status('cannot list models: ' + e, true));
})();
