"""ezvtb-node: face tracking in, THA3 anime avatar frames out."""

__version__ = "0.1.0"
