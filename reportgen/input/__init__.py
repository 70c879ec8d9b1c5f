"""Reading customer tables: the file readers (load), the first pass over a table (scan) and
synthetic tables (synth)."""
