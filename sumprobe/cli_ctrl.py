"""The controlled-generation commands (`ctrl-train`, `ctrl-sample`, `ctrl-eval`).

`sumprobe.cli` adds every command listed in COMMANDS to the `sumprobe` group.
"""

COMMANDS: list = []
