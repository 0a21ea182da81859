//! Integration tests of oa-api (one binary; modules named after what they pin).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a failed assertion, with its location"
)]

mod support;

mod control_routes_follow_the_token_rules;
mod cors_and_request_ids;
mod errors_are_json_with_codes;
mod event_stream_replays_and_resumes;
mod event_stream_resumes_from_the_durable_log;
mod no_input_causes_a_server_error;
mod openapi_document_is_pinned;
mod openapi_schemas_describe_the_real_responses;
mod read_routes_answer_the_seed_shapes;
mod real_socket_stream_resumes_and_shuts_down;
