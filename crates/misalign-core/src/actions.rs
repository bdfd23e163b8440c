//! Parsing the agent's actions from its visible answer (XML tool-use blocks).
