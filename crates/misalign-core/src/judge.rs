//! LLM-judge rubrics, prompts and exact parsing of judge answers (the I/O is elsewhere).
