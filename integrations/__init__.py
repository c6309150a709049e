"""Ports to outside services, each beside its real adapter."""
