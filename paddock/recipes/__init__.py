"""Built-in training recipes Paddock runs as job templates (``python -m paddock.recipes.<name>``).

Each recipe imports its heavy libraries (torch, transformers, peft) inside itself, so the
``paddock`` package stays importable without them: install ``paddock[recipes]`` where recipes run.
"""
