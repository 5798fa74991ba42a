#!/usr/bin/python3
"""Independent check of a TensorBoard event file written by AptLab, using only Debian packages:
python3-crcmod for the masked CRC32C of every TFRecord and protoc (protobuf-compiler) to decode each Event
with the project's schema src/AptLab/Logging/tensorboard_events.proto.

    /usr/bin/python3 tests/AptLab.Tests/Logging/check_tfevents.py FILE [--decode]
"""
import os, struct, subprocess, sys
import crcmod.predefined

crc32c = crcmod.predefined.mkCrcFun("crc-32c")
PROTO_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src", "AptLab", "Logging")


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(blob):
    pos = 0
    while pos < len(blob):
        (n,) = struct.unpack_from("<Q", blob, pos)
        (len_crc,) = struct.unpack_from("<I", blob, pos + 8)
        assert masked(blob[pos:pos + 8]) == len_crc, f"bad length crc at {pos}"
        data = blob[pos + 12:pos + 12 + n]
        (data_crc,) = struct.unpack_from("<I", blob, pos + 12 + n)
        assert masked(data) == data_crc, f"bad data crc at {pos}"
        yield pos, data
        pos += 16 + n


def main():
    path, decode = sys.argv[1], "--decode" in sys.argv
    blob = open(path, "rb").read()
    count = 0
    for pos, data in records(blob):
        count += 1
        if decode:
            out = subprocess.run(["protoc", f"--proto_path={PROTO_DIR}", "--decode=tensorboard.Event",
                                  "tensorboard_events.proto"], input=data, capture_output=True, check=True)
            print(f"--- record at byte {pos} ({len(data)} bytes)\n" + out.stdout.decode())
    print(f"{path}: {count} records, all CRCs match")


if __name__ == "__main__":
    main()
