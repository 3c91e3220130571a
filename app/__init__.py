"""The application: streaming pipeline, command line, Qt window. The only package that imports Qt."""
