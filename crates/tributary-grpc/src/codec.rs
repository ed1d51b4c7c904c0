//! The protobuf codec of the generated servers (`codec_path` in `build.rs`).
//!
//! `tonic_prost::ProstCodec` answers a message that does not decode with `INTERNAL`, which
//! is right for a client reading a server's answer but wrong for a server reading a request:
//! bytes that are not a valid message, or a string field that is not UTF-8, are the caller's
//! mistake and get `INVALID_ARGUMENT`, as every other bad input does. Encoding stays
//! tonic_prost's, and so do its failures. Size limits are not the codec's: tonic checks them
//! on the frame before decoding, with the limits set in `routes`.

use std::marker::PhantomData;

use prost::{Message, Name};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

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

    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.prost.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { buffer_settings: self.prost.decoder().buffer_settings(), _request: PhantomData }
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
