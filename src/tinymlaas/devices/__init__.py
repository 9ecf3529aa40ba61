"""Boards attached through bridges: discovery, installing models, observing predictions."""
