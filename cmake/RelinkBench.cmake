# relink-bench: the load tool of issue 7 (docs/performance.md). Included from the top-level CMakeLists.txt after
# the server targets; never installed.
