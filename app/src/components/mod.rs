pub mod dropzone;
pub mod upload_list;
