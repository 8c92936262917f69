"""Configs as the user gives them: the tools' command line, strict ``--cfg-options`` and the
data root."""
