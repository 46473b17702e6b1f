"""Quality control: pure functions and estimators over DataFrames. No Prefect, no network.

The long annotation contract every QC entry point takes is documented in ``qc.contract``.
"""
