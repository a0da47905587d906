/** The version written into index.json's vnd.act3-ace.data.version annotation. */
export const VERSION = '0.1.0-ts';
