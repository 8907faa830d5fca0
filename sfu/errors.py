"""Errors the SFU raises for bad input; their messages are safe to show to clients."""


class SfuError(ValueError):
    pass
