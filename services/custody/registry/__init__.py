"""The verified handler registry: carriers, collectors, recyclers, refiners, repairers, second-life operators."""
