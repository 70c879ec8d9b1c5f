"""Engines: where the rows of a customer table are read, scored and summarised.

The local engine is `input/scan.py`'s `Source` (chunks in this process). `spark.py` reads
the table with Apache Spark and runs the same per-chunk functions on the executors.
"""
