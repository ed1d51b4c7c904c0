//! The protobuf codec of the generated servers (`codec_path` in `build.rs`).
//!
//! `tonic_prost::ProstCodec` answers a message that does not decode with `INTERNAL`, which
//! is right for a client reading a server's answer but wrong for a server reading a request:
//! bytes that are not a valid message, or a string field that is not UTF-8, are the caller's
//! mistake and get `INVALID_ARGUMENT`, as every other bad input does. Size limits are not the
//! codec's: tonic checks them on the frame before decoding, with the limits set in `routes`.
//!
//! Answers are encoded as `ProstEncoder` does, with one difference: tonic's buffer is reserved
//! for the whole message first ([`AnswerEncoder`]). prost's `encode` never reserves, so an
//! answer written into the buffer in many slices (every field of a generated message, the
//! parts of `chunk::LineageResponse`) grew it by copies, a large one many times over.

use std::marker::PhantomData;

use prost::{Message, Name};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_prost::ProstCodec;

/// `ProstCodec` with request decode errors mapped to `INVALID_ARGUMENT`. `T` is the answer
/// (encoded), `U` the request (decoded).
#[derive(Debug, Clone)]
pub(crate) struct RequestCodec<T, U> {
    prost: ProstCodec<T, U>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self { prost: ProstCodec::default() }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;

    type Encoder = AnswerEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        AnswerEncoder { buffer_settings: self.prost.encoder().buffer_settings(), _answer: PhantomData }
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { buffer_settings: self.prost.decoder().buffer_settings(), _request: PhantomData }
    }
}

/// Encodes an answer `T` with prost into tonic's buffer, reserved for the whole message first.
#[derive(Debug, Clone)]
pub(crate) struct AnswerEncoder<T> {
    /// tonic_prost's, so buffers are made as they were before this codec.
    buffer_settings: BufferSettings,
    _answer: PhantomData<T>,
}

impl<T: Message> Encoder for AnswerEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, answer: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // What prost's `encode` does, but for its check of the room left, which an `EncodeBuf`
        // always has: the length is computed once, as it was there.
        buf.reserve(answer.encoded_len());
        answer.encode_raw(buf);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.buffer_settings
    }
}

/// Decodes a request `U` with prost; a failure is the caller's (`INVALID_ARGUMENT`).
#[derive(Debug, Clone)]
pub(crate) struct RequestDecoder<U> {
    /// tonic_prost's, so buffers grow as they did before this codec.
    buffer_settings: BufferSettings,
    _request: PhantomData<U>,
}

impl<U> Decoder for RequestDecoder<U>
where
    U: Message + Name + Default,
{
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // Decoded here rather than by `ProstDecoder`, whose error is already a `Status` and
        // would have to be re-coded by guessing that every failure it reports is a decode
        // error; this way only `prost::DecodeError` becomes `INVALID_ARGUMENT`.
        match U::decode(buf) {
            Ok(request) => Ok(Some(request)),
            Err(error) => {
                tracing::debug!(request_type = %U::full_name(), %error, "request rejected: not a valid message");
                Err(Status::invalid_argument(format!("request is not a valid `{}` message: {error}", U::full_name())))
            }
        }
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.buffer_settings
    }
}
