"""The object-store layer: s3:// URIs, the client from the environment, the bucket layout, and
transfers. Plain S3 API only, so any S3 server works."""
