#!/usr/bin/env python3
"""scripts/craft_checkpoint.py: a checkpoint with valid checksums whose network config claims
another size (docs/checkpoints.md layout): the tensors stay as they are, one field of
"lstm.network_config" is replaced, the header is rewritten and the file checksum recomputed.
A loader must refuse it before allocating anything sized by the claim (issue 14).
Usage: craft_checkpoint.py in.safetensors out.safetensors FIELD=VALUE [FIELD=VALUE ...]
e.g.   craft_checkpoint.py good.safetensors huge.safetensors vocab=1000000"""
import json
import struct
import sys

try:  # Debian's python3-crcmod (C extension) is fast; the table loop is ~1 s per MB
    import crcmod.predefined

    crc32c = crcmod.predefined.mkCrcFun("crc-32c")
except ImportError:
    TABLE = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        TABLE.append(c)

    def crc32c(data):
        crc = 0xFFFFFFFF
        for b in data:
            crc = (crc >> 8) ^ TABLE[(crc ^ b) & 0xFF]
        return crc ^ 0xFFFFFFFF


src, dst, claims = sys.argv[1], sys.argv[2], sys.argv[3:]
raw = open(src, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + n])
data = raw[8 + n :]
meta = header["__metadata__"]
config = json.loads(meta["lstm.network_config"])
for claim in claims:
    field, value = claim.split("=", 1)
    config[field] = json.loads(value)
meta["lstm.network_config"] = json.dumps(config, separators=(",", ":"))
meta["melodl.file_crc32c"] = "00000000"
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
zeroed = struct.pack("<Q", len(text)) + text + data
crc = f"{crc32c(zeroed):08x}".encode()
key = b'"melodl.file_crc32c":"'
pos = zeroed.index(key) + len(key)
with open(dst, "wb") as f:
    f.write(zeroed[:pos] + crc + zeroed[pos + 8 :])
