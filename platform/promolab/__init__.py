"""promolab: experimentation and bandits for e-commerce promotions."""

__version__ = "0.1.0"
