"""The application wing: the node (``node``: lifecycle; ``assembly``: config → parts and the
fail-fast checks; ``render``: the render loop; ``metrics``; ``control``: the HTTP endpoint), its
configuration (``config``), the demo (``demo``), and the `run` / `demo` commands (``commands``).
Nothing below it imports it; see docs/architecture.md.
"""
