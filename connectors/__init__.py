"""One thin, typed client per external system (Label Studio, S3, data files, talent pool)."""
