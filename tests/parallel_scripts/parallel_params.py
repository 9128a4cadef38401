"""Run parameters shared by tests/test_parallel.py and its subprocess worker (small: the whole file runs in < 2 min)."""

BATCH = dict(L=8, T=[1.8, 2.2, 2.4, 2.7, 3.5], sweeps=32, thermalize=8, chains=2, seed=11, h=0.05, chunk_size=16)
EXCHANGE = dict(BATCH, exchange_every=2)
DOMAIN = dict(L=16, T=2.3, h=0.02, sweeps=40, seed=7)
