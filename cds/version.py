"""The software version, in one place (``cds.__version__`` and every output read it)."""

SOFTWARE_VERSION = "0.2.0"
