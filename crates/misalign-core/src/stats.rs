//! Rates, confidence intervals and exact tests for harmful-action rates.
