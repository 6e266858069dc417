"""`retrain report`: one self-contained HTML page per run, built from its ML Metadata records and artifacts.

runs (MLMD navigation) -> evaluation, training, data (artifact readers) -> collect (RunReport)
-> plots, render (HTML) -> build.write_report.
"""
