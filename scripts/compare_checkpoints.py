#!/usr/bin/env python3
"""Compare two melodl safetensors checkpoints: tensor names, dtypes, shapes and bytes must be
equal (exit 1 otherwise); metadata differences are listed, except checksums and run timings.
usage: scripts/compare_checkpoints.py A.safetensors B.safetensors"""
import json, struct, sys

def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    data = b[8 + n:]
    return {k: (v['dtype'], v['shape'], data[v['data_offsets'][0]:v['data_offsets'][1]]) for k, v in h.items()}, meta

ta, ma = load(sys.argv[1]); tb, mb = load(sys.argv[2])
ok = True
if set(ta) != set(tb):
    print('tensor names differ:', sorted(set(ta) ^ set(tb))); ok = False
for k in sorted(set(ta) & set(tb)):
    if ta[k] != tb[k]:
        print('tensor differs:', k); ok = False
print(f'{len(ta)} tensors compared, {"all equal" if ok else "DIFFERENCES"}')
for k in sorted(set(ma) | set(mb)):
    va, vb = ma.get(k), mb.get(k)
    if va == vb: continue
    if k.startswith('melodl.crc32c.') or k == 'melodl.file_crc32c':
        continue
    try:
        ja, jb = json.loads(va), json.loads(vb)
        if isinstance(ja, dict) and isinstance(jb, dict):
            d = {kk: (ja.get(kk), jb.get(kk)) for kk in set(ja) | set(jb) if ja.get(kk) != jb.get(kk)}
            if k == 'user.run_state':
                # timings differ run to run
                for kk in ('elapsed_s',): d.pop(kk, None)
                if 'history' in d:
                    ha = [{x: y for x, y in e.items() if x != 'seconds'} for e in ja['history']]
                    hb = [{x: y for x, y in e.items() if x != 'seconds'} for e in jb['history']]
                    if ha == hb: d.pop('history')
            if d: print('metadata', k, 'differs:', json.dumps(d)[:600])
            continue
    except Exception:
        pass
    print('metadata', k, 'differs:', str(va)[:200], '|', str(vb)[:200])
sys.exit(0 if ok else 1)
