#!/usr/bin/env python3
"""Usage: scripts/abi-strip-appended.py BASELINE CURRENT OUT

Part of scripts/check-abi.sh. BASELINE and CURRENT are abidw XML descriptions of librelink.so. Writes CURRENT to OUT
with the fields appended to the library-allocated structs (relink_event, relink_status) beyond the ones BASELINE
has removed, and those structs' sizes set back to BASELINE's: what remains is compared by abidiff, which then
reports any other change of those structs (a field moved, retyped, renamed or inserted before the end) as a change.
Prints one line per stripped field.
"""
import sys
import xml.etree.ElementTree as ET

GROWABLE = ("relink_event", "relink_status")  # relink.h: the app reads them through a pointer, never allocates them


def struct_definitions(root):
    """name -> the defining class-decl element (declaration-only ones skipped)."""
    found = {}
    for decl in root.iter("class-decl"):
        name = decl.get("name")
        if name in GROWABLE and decl.get("is-declaration-only") != "yes" and decl.get("size-in-bits"):
            found.setdefault(name, []).append(decl)
    return found


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    baseline_root = ET.parse(sys.argv[1]).getroot()
    current_tree = ET.parse(sys.argv[2])
    baseline = struct_definitions(baseline_root)
    current = struct_definitions(current_tree.getroot())
    for name in GROWABLE:
        if name not in baseline or name not in current:
            continue
        old = baseline[name][0]
        old_count = len(old.findall("data-member"))
        for decl in current[name]:
            members = decl.findall("data-member")
            if len(members) <= old_count:
                continue
            for member in members[old_count:]:
                var = member.find("var-decl")
                print("abi: %s: field '%s' appended (compatible)" % (name, var.get("name") if var is not None else "?"))
                decl.remove(member)
            decl.set("size-in-bits", old.get("size-in-bits"))
    current_tree.write(sys.argv[3], encoding="unicode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
