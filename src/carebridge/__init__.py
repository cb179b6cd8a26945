"""CareBridge: the open-source telehealth platform connecting patients with doctors and nurses."""

__version__ = "0.1.0"
