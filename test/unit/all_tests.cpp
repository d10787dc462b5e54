// SPDX-License-Identifier: MIT
//
// The one CppUTest main. libxml2 and OpenSSL allocate global state on first
// use; initialise both here, before CppUTest's leak detector starts counting.
// sofia-sip's own diagnostics are dropped, as the daemon drops them below
// its debug level (the tests of daemon/ provoke some: a descriptor sd-bus
// closed before the loop stopped watching it).

#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>

#include <CppUTest/CommandLineTestRunner.h>

#include "base/openssl.hpp"

int main(int argc, char **argv)
{
	xmlInitParser();
	OPENSSL_init_crypto(0, nullptr);
	su_init();
	su_log_redirect(
		nullptr, [](void *, char const *, va_list) {}, nullptr);
	// Warm up the digests the tests use so their lazy tables are not
	// counted as leaks.
	for (const char *name : {"MD5", "SHA256", "SHA512-256"})
		(void)checksyncd::UniqueMd(EVP_MD_fetch(nullptr, name, nullptr));
	int rc = CommandLineTestRunner::RunAllTests(argc, argv);
	su_deinit();
	return rc;
}
