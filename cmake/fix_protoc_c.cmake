# protoc-c's service stubs (which this project does not use) name a struct
# member after each RPC; the Register RPC makes that the C keyword
# "register". Rename the member so the generated header compiles.
file(READ ${HEADER} text)
string(REPLACE "(*register)" "(*register_)" text "${text}")
string(REPLACE "## register," "## register_," text "${text}")
file(WRITE ${HEADER} "${text}")
