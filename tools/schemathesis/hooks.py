# Loaded by schemathesis in `npm run test:contract` (SCHEMATHESIS_HOOKS).
import schemathesis

# A tus PATCH body is raw bytes under tus's own media type: send it as schemathesis sends
# application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
