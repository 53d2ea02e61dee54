#!/usr/bin/env python3
"""Writes the third-party licence file the packages ship: every crate the
app and the `kalamu` command link (normal dependencies on this platform),
with its licence expression and the licence texts its source carries."""

import json
import pathlib
import subprocess
import sys

ROOTS = ["kalamu-app", "kalamu-cli"]


def main() -> None:
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", "x86_64-unknown-linux-gnu"]
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    ours = {p["id"] for p in meta["packages"] if p["source"] is None}
    todo = [pid for pid in ours if packages[pid]["name"] in ROOTS]
    seen: set[str] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    out = sys.stdout
    out.write("Third-party software in Kalamu\n==============================\n\n")
    out.write("Kalamu links the following crates. Each is listed with its licence,\n")
    out.write("followed by the licence texts its source distribution carries.\n\n")
    crates = sorted((packages[p] for p in seen - ours), key=lambda p: (p["name"], p["version"]))
    for p in crates:
        out.write(f"{p['name']} {p['version']}: {p.get('license') or 'see its licence file'}\n")
    for p in crates:
        folder = pathlib.Path(p["manifest_path"]).parent
        texts = sorted(
            f for f in folder.iterdir()
            if f.is_file() and f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE"))
        )
        out.write(f"\n\n===== {p['name']} {p['version']} ({p.get('license') or 'no SPDX expression'}) =====\n")
        if p.get("license_file"):
            texts.append(folder / p["license_file"])
        for text in dict.fromkeys(texts):
            out.write(f"\n--- {text.name} ---\n")
            out.write(text.read_text(errors="replace"))


if __name__ == "__main__":
    main()
