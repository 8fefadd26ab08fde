"""The cost engine: the usage contract and its normalisers, price tables, exact costing, workload profiles.

Pure of storage and of every face: it takes frames and prices and gives frames and decimals back.
"""
