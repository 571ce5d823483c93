"""Model files: what is on disk, where, and how it gets there. Nothing here runs a model.

* ``layout``: the facts every part agrees on (THA3 stages and their I/O, variants, precisions, the
  RIFE and SR graph layouts, the engine format version).
* ``store``: the one on-disk store for THA3 engine sets, RIFE and SR files (paths, manifests,
  validation of what is there, atomic installs).
* the builders: ``tha3_build`` (THA3 weights → engine set, rebuilt when stale) with ``export``
  (the torch → ONNX export), ``import_tha3`` (ezvtuber-rt THA3 sets), ``import_onnx`` (RIFE and SR
  files), ``lowering`` (ONNX rewrites for runtimes that lack an operator), ``merge_convs``
  (sibling output convolutions run as one; bit-identical).

Running the files is ``ezvtb_node.core.backends``' job.
"""
