"""dramac: a compiler from screenplays to finished audio drama.

The pipeline, one module per stage:

    source -> fountain | markdown (lark) -> nodes (AST) -> checks
           -> normalize -> cast -> plan -> render (backends, cache) -> stitch -> master -> emit
"""

__version__ = "0.1.0"
