"""edgekit's benchmark suite (run it with `scripts/bench`). Each part is one module with a `run(context)`
function, listed in `main.PARTS`; see `common.py` for what a part receives and returns."""
