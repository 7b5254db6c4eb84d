"""The host agent's readers: what a GPU host says about itself, as a :class:`NodeReport`.

``nvml`` reads the driver through NVML (nvidia-ml-py); ``nvidia_smi`` parses a saved
``nvidia-smi -q -x`` for hosts without Python (and for tests); ``host`` reads the machine's
CPUs and memory. ``manage.py agent`` posts what they produce to the agent report endpoint.
"""
