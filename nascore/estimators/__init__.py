"""Estimators shipped with the core: how good is an architecture?"""
