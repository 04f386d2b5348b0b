"""kalshi-mm: a market-making system for Kalshi prediction markets.

A pure core (``domain``, ``kalshi``, ``core``) pushed events and returning commands, wrapped by
thin asyncio shells (``venue``, ``exchange``, ``runtime``, ``research``, ``dashboard``).
"""

__version__ = "0.1.0"
