//! `verify` and the alarm readings against mocked CloudWatch clients: how each series is
//! classified, and what a rollout shows of its alarms
