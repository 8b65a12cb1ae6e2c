"""The code sandbox: a locked-down child process that runs model-written Python."""
