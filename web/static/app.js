// web/static/app.js: the `melodl train --viz` page (docs/viz.md). One level per
// parameter array (bottom: layer0 W, R, b, p, then layer1..., top: out.W, out.b), one
// sphere per sampled parameter, coloured by its gradient g with
// hue = 260 - 260 / (1 + exp(k g)), k = 2^slider, sized by |value|. Streams snapshots
// with Server-Sent Events (/api/events), controls training with POST /api/pause|step|resume
// and asks for a new learning rate with POST /api/lr.
// index.html?selftest=1 runs the end-to-end checks of tests/web/ and POSTs /api/report.
'use strict';
(function () {
  const params = new URLSearchParams(location.search);
  const kHistory = 200;       // snapshots kept per sphere
  const kChartPoints = 4000;  // loss points kept
  const state = {
    layout: null, spheres: [], levels: [], snapshots: 0, lastSnap: null, paused: false,
    loss: [], selected: null, k: Math.pow(2, 4), samples: null, colorUpdates: 0,
    lrRequested: null,  // a learning rate asked for and not yet seen in a snapshot
  };
  window.melodlViz = state;

  // --- three.js scene ---
  const view = document.getElementById('view');
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  view.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x111418);
  const camera = new THREE.PerspectiveCamera(45, 1, 0.1, 2000);
  const controls = new THREE.OrbitControls(camera, renderer.domElement);
  scene.add(new THREE.AmbientLight(0xffffff, 0.55));
  const sun = new THREE.DirectionalLight(0xffffff, 0.7);
  sun.position.set(30, 60, 40);
  scene.add(sun);
  const sphereGeo = new THREE.SphereBufferGeometry(1, 14, 10);
  function resize() {
    const w = view.clientWidth, h = view.clientHeight;
    renderer.setSize(w, h);
    camera.aspect = w / Math.max(1, h);
    camera.updateProjectionMatrix();
  }
  window.addEventListener('resize', resize);

  function label(text) {
    const c = document.createElement('canvas');
    c.width = 256; c.height = 48;
    const g = c.getContext('2d');
    g.fillStyle = '#ccd'; g.font = '28px sans-serif'; g.fillText(text, 4, 34);
    const s = new THREE.Sprite(new THREE.SpriteMaterial({ map: new THREE.CanvasTexture(c), transparent: true }));
    s.scale.set(8, 1.5, 1);
    return s;
  }

  const kSpacing = 1.6, kLevelGap = 5;
  function buildScene(layout) {
    state.layout = layout;
    const n = layout.arrays.length;
    layout.arrays.forEach((a, li) => {
      const count = a.indices.length;
      const side = Math.ceil(Math.sqrt(count));
      const y = li * kLevelGap;
      const plate = new THREE.Mesh(new THREE.PlaneBufferGeometry(side * kSpacing + 1, side * kSpacing + 1),
        new THREE.MeshBasicMaterial({ color: 0x223344, transparent: true, opacity: 0.35, side: THREE.DoubleSide }));
      plate.rotation.x = -Math.PI / 2; plate.position.y = y - 0.6;
      scene.add(plate);
      const lab = label(a.name);
      lab.position.set(-(side * kSpacing) / 2 - 3, y - 0.6, (side * kSpacing) / 2);  // front-left corner
      scene.add(lab);
      const level = { info: a, spheres: [], gnorm: 0, ratio: 0 };
      for (let j = 0; j < count; ++j) {
        const m = new THREE.Mesh(sphereGeo, new THREE.MeshLambertMaterial({ color: 0x444444 }));
        m.position.set((j % side - (side - 1) / 2) * kSpacing, y, (Math.floor(j / side) - (side - 1) / 2) * kSpacing);
        m.scale.setScalar(0.25);
        const sp = { mesh: m, level: li, j, g: [], v: [], steps: [] };
        m.userData.sphere = sp;
        scene.add(m);
        state.spheres.push(sp);
        level.spheres.push(sp);
      }
      state.levels.push(level);
    });
    const h = n * kLevelGap;
    camera.position.set(28, h * 0.9 + 8, 34);
    controls.target.set(0, h / 2 - 2, 0);
    controls.update();
    const tbody = document.querySelector('#levels tbody');
    layout.arrays.forEach((a, li) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${a.name}</td><td>${a.shape.join('×')}</td><td id="gn${li}">-</td><td id="ur${li}">-</td>`;
      tbody.appendChild(tr);
    });
    resize();
  }

  // --- colours ---
  function hueOf(g) {
    if (g === null || !isFinite(g)) return null;
    const x = Math.max(-60, Math.min(60, state.k * g));
    return 260 - 260 / (1 + Math.exp(x));
  }
  const tmpColor = new THREE.Color();
  function recolor() {
    for (const sp of state.spheres) {
      const g = sp.g.length ? sp.g[sp.g.length - 1] : null;
      const hue = hueOf(g);
      if (hue === null) sp.mesh.material.color.set(0x444444);
      else sp.mesh.material.color.copy(tmpColor.setHSL(hue / 360, 1, 0.5));
    }
    state.colorUpdates++;
  }
  function drawLegend() {
    const c = document.getElementById('legendbar'), g = c.getContext('2d');
    for (let x = 0; x < c.width; ++x) {
      const t = (x / (c.width - 1)) * 2 - 1;  // k g from -6 to 6
      g.fillStyle = `hsl(${260 - 260 / (1 + Math.exp(6 * t))},100%,50%)`;
      g.fillRect(x, 0, 1, c.height);
    }
  }

  // --- snapshots ---
  const fmt = (x, d = 3) => (x === null || x === undefined) ? 'n/a' : (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(d));
  function applySnapshot(s) {
    if (!state.layout || !s) return;
    if (state.lastSnap && s.seq <= state.lastSnap.seq) return;
    state.lastSnap = s;
    state.snapshots++;
    s.arrays.forEach((a, li) => {
      const level = state.levels[li];
      if (!level) return;
      let vmax = 0;
      for (const v of a.v) if (v !== null) vmax = Math.max(vmax, Math.abs(v));
      level.spheres.forEach((sp, j) => {
        sp.g.push(a.g[j]); sp.v.push(a.v[j]); sp.steps.push(s.step);
        if (sp.g.length > kHistory) { sp.g.shift(); sp.v.shift(); sp.steps.shift(); }
        const v = a.v[j];
        sp.mesh.scale.setScalar(0.12 + 0.5 * (vmax > 0 && v !== null ? Math.abs(v) / vmax : 0));
      });
      level.gnorm = a.gnorm; level.ratio = a.ratio;
      document.getElementById('gn' + li).textContent = fmt(a.gnorm);
      document.getElementById('ur' + li).textContent = fmt(a.ratio);
    });
    recolor();
    if (s.loss !== null) {
      state.loss.push([s.step, s.loss]);
      if (state.loss.length > kChartPoints) state.loss.shift();
    }
    document.getElementById('step').textContent = s.step;
    document.getElementById('loss').textContent = fmt(s.loss);
    showLr(s);
    drawChart();
    if (state.selected) showDetails(state.selected);
  }

  function drawChart() {
    const c = document.getElementById('chart'), g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    const pts = state.loss;
    if (pts.length < 1) return;
    let lo = Infinity, hi = -Infinity;
    for (const [, y] of pts) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    const x0 = pts[0][0], x1 = Math.max(x0 + 1, pts[pts.length - 1][0]);
    const X = x => 30 + (x - x0) / (x1 - x0) * (c.width - 36);
    const Y = y => 8 + (hi - y) / (hi - lo) * (c.height - 24);
    g.strokeStyle = '#333'; g.beginPath(); g.moveTo(30, 4); g.lineTo(30, c.height - 14); g.lineTo(c.width, c.height - 14); g.stroke();
    g.fillStyle = '#889'; g.font = '10px sans-serif';
    g.fillText(hi.toFixed(2), 0, 12); g.fillText(lo.toFixed(2), 0, c.height - 16);
    g.fillText('step ' + x0, 32, c.height - 2); g.fillText(String(x1), c.width - 40, c.height - 2);
    g.strokeStyle = '#fc6'; g.beginPath();
    pts.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
    state.chartDraws = (state.chartDraws || 0) + 1;
  }

  // --- details of a clicked sphere ---
  function showDetails(sp) {
    state.selected = sp;
    const a = state.layout.arrays[sp.level], level = state.levels[sp.level];
    const idx = a.indices[sp.j];
    let pos = String(idx);
    if (a.shape.length === 2) pos = `[${Math.floor(idx / a.shape[1])}, ${idx % a.shape[1]}]`;
    document.getElementById('details').hidden = false;
    document.getElementById('dname').textContent = `${a.name}${pos}`;
    const g = sp.g[sp.g.length - 1], v = sp.v[sp.v.length - 1];
    document.getElementById('dtext').innerHTML =
      `value ${fmt(v, 5)} · gradient ${fmt(g, 5)}<br>array ${a.name}: shape ${a.shape.join('×')} (${a.size} parameters, ${a.indices.length} shown)<br>` +
      `gradient norm ${fmt(level.gnorm)} · update/weight ${fmt(level.ratio)}<br>history: last ${sp.g.length} snapshots`;
    document.querySelectorAll('#levels tr').forEach((tr, i) => tr.classList.toggle('sel', i === sp.level + 1));
    const c = document.getElementById('dchart'), ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    const line = (ys, color) => {
      const f = ys.filter(y => y !== null);
      if (!f.length) return;
      let lo = Math.min(...f), hi = Math.max(...f);
      if (hi - lo < 1e-12) { hi += 1e-6; lo -= 1e-6; }
      ctx.strokeStyle = color; ctx.beginPath();
      ys.forEach((y, i) => {
        if (y === null) return;
        const X = 2 + i / Math.max(1, ys.length - 1) * (c.width - 4), Y = 4 + (hi - y) / (hi - lo) * (c.height - 8);
        i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y);
      });
      ctx.stroke();
    };
    line(sp.g, '#e66'); line(sp.v, '#6cf');
    if (state.highlight) state.highlight.visible = true;
    if (!state.highlight) {
      state.highlight = new THREE.Mesh(new THREE.SphereBufferGeometry(1, 16, 12),
        new THREE.MeshBasicMaterial({ color: 0xffffff, wireframe: true }));
      scene.add(state.highlight);
    }
    state.highlight.position.copy(sp.mesh.position);
    state.highlight.scale.setScalar(sp.mesh.scale.x * 1.4 + 0.1);
  }
  const raycaster = new THREE.Raycaster(), mouse = new THREE.Vector2();
  let downAt = null;
  renderer.domElement.addEventListener('pointerdown', e => { downAt = [e.clientX, e.clientY]; });
  renderer.domElement.addEventListener('pointerup', e => {
    if (!downAt || Math.hypot(e.clientX - downAt[0], e.clientY - downAt[1]) > 4) return;
    const r = renderer.domElement.getBoundingClientRect();
    mouse.set((e.clientX - r.left) / r.width * 2 - 1, -(e.clientY - r.top) / r.height * 2 + 1);
    raycaster.setFromCamera(mouse, camera);
    const hit = raycaster.intersectObjects(state.spheres.map(s => s.mesh))[0];
    if (hit) showDetails(hit.object.userData.sphere);
  });

  // --- controls ---
  // POSTs carry the run's token from the page (docs/viz.md "Security and limits").
  const token = (document.querySelector('meta[name="melodl-token"]') || {}).content || '';
  function apiPost(what, body, type) {
    const headers = { 'X-Melodl-Token': token };
    if (type) headers['Content-Type'] = type;
    return fetch('api/' + what, { method: 'POST', headers, body });
  }
  async function post(what) {
    const r = await apiPost(what);
    const j = await r.json();
    setPaused(j.paused);
    return j;
  }
  function setPaused(p) {
    state.paused = p;
    document.getElementById('state').textContent = p ? 'paused' : 'running';
    document.getElementById('pause').disabled = p;
    document.getElementById('stepbtn').disabled = !p;
    document.getElementById('resume').disabled = !p;
  }
  document.getElementById('pause').onclick = () => post('pause');
  document.getElementById('stepbtn').onclick = () => post('step');
  document.getElementById('resume').onclick = () => post('resume');

  // --- compose now (POST /api/compose-now: one piece from the weights being trained) ---
  const cn = { result: null, busy: false };
  const cnPlayer = melodlRoll.player(cn);
  function drawCn() {
    if (melodlRoll.draw(document.getElementById('cnroll'), cn.result ? cn.result.pieces[0].notes : [], cn))
      requestAnimationFrame(drawCn);
  }
  async function composeNow() {
    if (cn.busy) return null;
    cn.busy = true;
    const btn = document.getElementById('composenow'), msg = document.getElementById('cnmsg');
    btn.disabled = true;
    msg.textContent = 'composing…';
    msg.className = '';
    try {
      const r = await apiPost('compose-now',
        JSON.stringify({ seed: Math.floor(Math.random() * 1e9), length: 200 }), 'application/json');
      const j = await r.json();
      if (!r.ok) { msg.textContent = j.error || `HTTP ${r.status}`; msg.className = 'bad'; return j; }
      cn.result = j;
      const notes = j.pieces[0].notes;
      msg.textContent = `${notes.length} notes from the weights of step ${j.step} (${j.compose_ms.toFixed(j.compose_ms < 10 ? 1 : 0)} ms)`;
      const a = document.getElementById('cndownload');
      a.href = j.midi;
      a.download = `compose-now-step-${j.step}.mid`;
      a.hidden = false;
      document.getElementById('cnplay').disabled = !notes.length;
      drawCn();
      return j;
    } finally {
      btn.disabled = false;
      cn.busy = false;
    }
  }
  document.getElementById('composenow').onclick = () => composeNow();
  document.getElementById('cnplay').onclick = () => {
    if (!cn.result) return;
    cnPlayer.play(cn.result.pieces[0].notes, 0);
    requestAnimationFrame(drawCn);
  };

  // --- learning rate (POST /api/lr; the training loop applies it after the current update) ---
  const lrInput = document.getElementById('lrinput');
  const fmtLr = x => (x === null || x === undefined) ? 'n/a' : String(Number(x.toPrecision(4)));
  const sameLr = (a, b) => a !== null && b !== null && Math.abs(a - b) <= 1e-6 * Math.abs(b);
  function lrMessage(text, bad) {
    const m = document.getElementById('lrmsg');
    m.textContent = text;
    m.className = bad ? 'bad' : '';
  }
  function showLr(s) {
    document.getElementById('lr').textContent = fmtLr(s.lr);
    lrInput.placeholder = fmtLr(s.lr);
    if (state.lrRequested !== null && sameLr(s.lr, state.lrRequested)) {
      lrMessage(`lr ${fmtLr(s.lr)} in use since step ${s.step}`, false);
      state.lrRequested = null;
    }
  }
  function showRequested(req) {  // from a status event or a POST answer
    if (req === null || req === undefined) {
      if (state.lrRequested !== null) lrMessage(`lr ${fmtLr(state.lrRequested)} taken by the training loop`, false);
      return;
    }
    state.lrRequested = req;
    lrMessage(`lr ${fmtLr(req)} requested: used from the next update` + (state.paused ? ' (press Step or Resume)' : ''), false);
  }
  async function setLr(value) {
    const r = await apiPost('lr', JSON.stringify({ lr: value }), 'application/json');
    let j = {};
    try { j = await r.json(); } catch (e) { j = { error: `HTTP ${r.status}` }; }
    if (!r.ok) {
      lrMessage(j.error || `HTTP ${r.status}`, true);
      return { ok: false, status: r.status, error: j.error || '' };
    }
    showRequested(j.lr_requested);
    return { ok: true, status: r.status, requested: j.lr_requested };
  }
  document.getElementById('setlr').onclick = () => {
    const text = lrInput.value.trim(), v = Number(text);
    if (text === '' || !isFinite(v)) { lrMessage('enter a number from 1e-7 to 10, e.g. 0.001', true); return; }
    setLr(v);
  };
  lrInput.addEventListener('keydown', e => { if (e.key === 'Enter') document.getElementById('setlr').click(); });

  const sens = document.getElementById('sens');
  sens.addEventListener('input', () => {
    state.k = Math.pow(2, Number(sens.value));
    document.getElementById('kexp').textContent = sens.value;
    recolor();
  });

  // --- sample melodies (WebAudio) ---
  let audio = null;
  function play(notes) {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const t0 = audio.currentTime + 0.1;
    for (const [pitch, start, end] of notes) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = 'triangle';
      o.frequency.value = 440 * Math.pow(2, (pitch - 69) / 12);
      const a = t0 + start, b = t0 + Math.max(start + 0.03, end);
      g.gain.setValueAtTime(0, a);
      g.gain.linearRampToValueAtTime(0.25, a + 0.01);
      g.gain.setValueAtTime(0.25, Math.max(a + 0.01, b - 0.03));
      g.gain.linearRampToValueAtTime(0, b);
      o.connect(g).connect(audio.destination);
      o.start(a); o.stop(b + 0.01);
    }
  }
  function applySamples(s) {
    if (!s) return;
    state.samples = s;
    const div = document.getElementById('samples');
    div.textContent = `epoch ${s.epoch}` + (s.valid_bits ? `, valid ${s.valid_bits.toFixed(3)} bits/symbol: ` : ': ');
    s.melodies.forEach((notes, i) => {
      const b = document.createElement('button');
      b.textContent = `▶ ${i + 1} (${notes.length} notes)`;
      b.disabled = notes.length === 0;
      b.onclick = () => play(notes);
      div.appendChild(b);
    });
  }

  // --- stream ---
  function connect() {
    const es = new EventSource('api/events');
    es.onopen = () => { document.getElementById('conn').textContent = 'live'; };
    es.onerror = () => { document.getElementById('conn').textContent = 'disconnected (retrying)'; };
    es.addEventListener('snapshot', e => applySnapshot(JSON.parse(e.data)));
    es.addEventListener('samples', e => applySamples(JSON.parse(e.data)));
    es.addEventListener('status', e => {
      const j = JSON.parse(e.data);
      setPaused(j.paused);
      showRequested(j.lr_requested);
    });
    es.addEventListener('end', () => { document.getElementById('conn').textContent = 'training ended'; es.close(); });
  }

  function animate() {
    requestAnimationFrame(animate);
    controls.update();
    renderer.render(scene, camera);
  }

  async function start() {
    drawLegend();
    buildScene(await (await fetch('api/layout')).json());
    const latest = await (await fetch('api/latest')).json();
    setPaused(latest.paused);
    showRequested(latest.lr_requested);
    // The loss curve so far (without the latest point, which applySnapshot adds).
    state.loss = (latest.loss_history || []).filter(p => !latest.snapshot || p[0] < latest.snapshot.step);
    applySnapshot(latest.snapshot);
    applySamples(latest.samples);
    if (params.get('nostream') !== '1') connect();
    else document.getElementById('conn').textContent = 'still (no stream)';
    if (params.get('select')) {
      const sp = state.spheres[Number(params.get('select'))];
      if (sp) showDetails(sp);
    }
    animate();
    if (params.get('selftest') === '1') selftest();
    if (params.get('selftest') === 'composenow') selftestComposeNow();
  }

  // --- end-to-end self-test (tests/web/viz_e2e_test.cpp) ---
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  async function until(f, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) { if (f()) return true; await sleep(50); }
    return f();
  }
  async function selftest() {
    const checks = [];
    const check = (name, ok, detail) => checks.push({ name, ok: !!ok, detail: String(detail) });
    try {
      check('spheres', state.spheres.length > 0 && state.spheres.length === state.layout.arrays.reduce((n, a) => n + a.indices.length, 0),
        state.spheres.length);
      check('levels', state.levels.length === state.layout.arrays.length, state.levels.length);
      check('token', /^[0-9a-f]{32}$/.test(token), `${token.length} characters`);
      await until(() => state.snapshots >= 1, 60000);
      const first = { snaps: state.snapshots, step: state.lastSnap ? state.lastSnap.step : -1,
        color: state.spheres.map(s => s.mesh.material.color.getHex()).join(), draws: state.chartDraws || 0,
        points: state.loss.length };
      await until(() => state.snapshots >= first.snaps + 3, 60000);
      check('snapshots arrive', state.snapshots >= first.snaps + 3, `${first.snaps} -> ${state.snapshots}`);
      check('steps advance', state.lastSnap.step > first.step, `${first.step} -> ${state.lastSnap.step}`);
      check('spheres update', state.spheres.map(s => s.mesh.material.color.getHex()).join() !== first.color, 'colours changed');
      check('loss chart updates', state.loss.length > first.points && (state.chartDraws || 0) > first.draws,
        `${first.points} -> ${state.loss.length} points`);
      const before = state.spheres.map(s => s.mesh.material.color.getHex()).join();
      const cu = state.colorUpdates;
      sens.value = String(Number(sens.value) + 6);
      sens.dispatchEvent(new Event('input'));
      const after = state.spheres.map(s => s.mesh.material.color.getHex()).join();
      check('slider recolours', state.colorUpdates > cu && after !== before && Math.abs(state.k - Math.pow(2, Number(sens.value))) < 1e-9,
        `k=${state.k}`);
      await post('pause');
      await until(() => state.lastSnap.paused, 10000);
      const pausedStep = (await (await fetch('api/latest')).json()).snapshot.step;
      await sleep(2500);
      const still = (await (await fetch('api/latest')).json()).snapshot.step;
      check('pause stops training', state.paused && still === pausedStep, `${pausedStep} -> ${still} during 2.5 s`);
      // Compose now while paused: the training thread hands its weights over from the pause.
      document.getElementById('composenow').click();
      await until(() => !cn.busy && cn.result, 30000);
      const cnNotes = cn.result ? cn.result.pieces[0].notes.length : 0;
      check('compose now', cn.result && cnNotes > 0 && cn.result.step === pausedStep &&
        cn.result.midi.startsWith('data:audio/midi;base64,TVRoZA') && !document.getElementById('cndownload').hidden,
        `${cnNotes} notes, step ${cn.result && cn.result.step} (paused at ${pausedStep}): ${document.getElementById('cnmsg').textContent}`);
      // Learning rate: bad values are refused with HTTP 400 and a message; a good one is
      // pending until the training loop takes it, and the single step below then uses it.
      const oldLr = state.lastSnap.lr;
      const tooBig = await setLr(20), zero = await setLr(0);
      const shown = document.getElementById('lrmsg').textContent;
      const junk = await apiPost('lr', '{"lr":"fast"}');
      check('lr rejects bad values', !tooBig.ok && tooBig.status === 400 && zero.status === 400 && junk.status === 400 &&
        tooBig.error.includes('1e-07 <= lr <= 10') && shown.includes('got 0'), `${tooBig.error} | ${shown} | ${junk.status}`);
      const newLr = Number((oldLr * 0.5).toPrecision(3));
      lrInput.value = String(newLr);
      document.getElementById('setlr').click();
      await until(() => state.lrRequested === newLr, 5000);
      const pending = (await (await fetch('api/latest')).json()).lr_requested;
      check('lr request pending', state.lrRequested === newLr && pending === newLr && state.lastSnap.lr === oldLr,
        `${oldLr} -> requested ${pending}`);
      await post('step');
      await until(() => state.lastSnap.step > still, 20000);
      await sleep(1000);
      const afterStep = await (await fetch('api/latest')).json();
      const one = afterStep.snapshot.step;
      check('single step', one === still + 1, `${still} -> ${one}`);
      check('lr applied', sameLr(afterStep.snapshot.lr, newLr) && afterStep.lr_requested === null &&
        document.getElementById('lr').textContent === fmtLr(newLr),
        `lr ${oldLr} -> ${afterStep.snapshot.lr} at step ${one} (requested ${newLr}, pending ${afterStep.lr_requested})`);
      await post('resume');
      await until(() => state.lastSnap.step > one + 2, 30000);
      check('resume continues', !state.paused && state.lastSnap.step > one + 2, `${one} -> ${state.lastSnap.step}`);
      const sp = state.spheres[0];
      showDetails(sp);
      check('details', !document.getElementById('details').hidden && sp.g.length > 3, `history ${sp.g.length}`);
    } catch (e) {
      check('exception', false, e && e.stack || e);
    }
    const ok = checks.every(c => c.ok);
    await apiPost('report', JSON.stringify({ ok, checks }), 'application/json');
    document.title = ok ? 'selftest: pass' : 'selftest: FAIL';
  }

  // index.html?selftest=composenow (tests/web/compose_now_e2e_test.cpp): the button alone,
  // as a keyboard user reaches it, while the training runs.
  async function selftestComposeNow() {
    const checks = [];
    const check = (name, ok, detail) => checks.push({ name, ok: !!ok, detail: String(detail) });
    try {
      await until(() => state.snapshots >= 1, 60000);
      const btn = document.getElementById('composenow');
      btn.focus();
      check('button focusable', document.activeElement === btn && btn.tagName === 'BUTTON', document.activeElement.id);
      const roll = document.getElementById('cnroll');
      const blue = () => {
        const d = roll.getContext('2d').getImageData(0, 0, roll.width, roll.height).data;
        const want = [1, 3, 5].map(i => parseInt(melodlRoll.colors[0].slice(i, i + 2), 16));
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === want[0] && d[i + 1] === want[1] && d[i + 2] === want[2]) n++;
        return n;
      };
      const before = blue();
      btn.click();
      await until(() => !cn.busy && cn.result, 30000);
      const notes = cn.result ? cn.result.pieces[0].notes : [];
      check('compose now', notes.length > 0 && cn.result.step >= 1 && cn.result.model === 'training',
        `${notes.length} notes from step ${cn.result && cn.result.step}: ${document.getElementById('cnmsg').textContent}`);
      check('roll shows notes', before === 0 && blue() > 20, `${before} -> ${blue()} note pixels`);
      const a = document.getElementById('cndownload');
      check('midi download', !a.hidden && a.href.startsWith('data:audio/midi;base64,TVRoZA') && /\.mid$/.test(a.download),
        `${a.download} ${a.href.slice(0, 40)}`);
      const cp = document.getElementById('cnplay');
      check('play enabled', !cp.disabled, cp.disabled);
      const msg = document.getElementById('cnmsg');
      check('message announced', msg.getAttribute('role') === 'status' && msg.textContent.includes('notes'), msg.textContent);
    } catch (e) {
      check('exception', false, e && e.stack || e);
    }
    const ok = checks.every(c => c.ok);
    await apiPost('report', JSON.stringify({ ok, checks }), 'application/json');
    document.title = ok ? 'selftest: pass' : 'selftest: FAIL';
  }

  start().catch(e => {
    document.getElementById('conn').textContent = 'error: ' + e;
    apiPost('report', JSON.stringify({ ok: false, checks: [{ name: 'start', ok: false, detail: String(e) }] }));
  });
})();
