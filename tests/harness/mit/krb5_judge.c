/*
 * Test-only judge built from MIT libkrb5: lets the Kerberos integration tests
 * have MIT's own library accept or reject the AP-REQ/AP-REP messages kink
 * builds, and produce AP-REQ/AP-REP messages kink must accept.
 *
 * Protocol: one command per invocation, messages as hex lines on stdin/stdout.
 *
 *   krb5_judge rd-req KEYTAB SERVER_PRINCIPAL
 *     stdin:  AP-REQ (hex)
 *     stdout: "ok client=<princ> ctime=<unix s> cusec=<us> keytype=<n> key=<hex>
 *              ticket_etype=<n> ap_options=<n>" then "ap-rep <hex>" (krb5_mk_rep)
 *     or      "error <code> <message>"
 *
 *   krb5_judge mk-req CCACHE SERVER_PRINCIPAL
 *     stdout: "ap-req <hex>" and "info keytype=<n> key=<hex>"
 *     stdin:  AP-REP (hex) to verify with krb5_rd_rep
 *     stdout: "ok rd-rep" or "error <code> <message>"
 *
 *   krb5_judge rd-req-u2u ENCTYPE:KEYHEX SERVER_PRINCIPAL
 *     as rd-req, for a user-to-user AP-REQ: the ticket is decrypted with the
 *     given TGT session key (krb5_auth_con_setuseruserkey) instead of a keytab
 *
 *   krb5_judge rd-error - -
 *     stdin:  KRB-ERROR (hex)
 *     stdout: "ok error=<code> stime=<s> susec=<us> ctime=<s> cusec=<us>
 *              server=<princ> client=<princ or ->" (krb5_rd_error)
 *
 * The replay cache is disabled with KRB5RCACHETYPE=none by the caller, since
 * the tests judge our replay cache, not MIT's.
 */
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static krb5_context ctx;

static void die(const char *what, krb5_error_code code) {
    const char *m = krb5_get_error_message(ctx, code);
    printf("error %ld %s: %s\n", (long)code, what, m);
    krb5_free_error_message(ctx, m);
    fflush(stdout);
    exit(1);
}

static void print_hex(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static int read_hex_line(krb5_data *out) {
    static char line[1 << 20];
    if (!fgets(line, sizeof line, stdin)) return 0;
    size_t n = strcspn(line, "\r\n");
    line[n] = 0;
    if (n % 2) return 0;
    out->length = n / 2;
    out->data = malloc(out->length + 1);
    for (size_t i = 0; i < out->length; i++) {
        unsigned int v;
        if (sscanf(line + 2 * i, "%2x", &v) != 1) return 0;
        out->data[i] = (char)v;
    }
    return 1;
}

static void print_key(krb5_keyblock *k) {
    printf(" keytype=%d key=", (int)k->enctype);
    print_hex(k->contents, k->length);
}

static int rd_req(const char *ktname, const char *server_name, krb5_keyblock *uukey) {
    krb5_error_code r;
    krb5_keytab kt = NULL;
    krb5_principal server;
    krb5_auth_context ac = NULL;
    krb5_flags ap_options = 0;
    krb5_ticket *ticket = NULL;
    krb5_data in, out;

    if (ktname && (r = krb5_kt_resolve(ctx, ktname, &kt))) die("krb5_kt_resolve", r);
    if (uukey) {
        if ((r = krb5_auth_con_init(ctx, &ac))) die("krb5_auth_con_init", r);
        if ((r = krb5_auth_con_setuseruserkey(ctx, ac, uukey)))
            die("krb5_auth_con_setuseruserkey", r);
    }
    if ((r = krb5_parse_name(ctx, server_name, &server))) die("krb5_parse_name", r);
    if (!read_hex_line(&in)) { printf("error 0 bad hex input\n"); return 1; }
    if ((r = krb5_rd_req(ctx, &ac, &in, server, kt, &ap_options, &ticket)))
        die("krb5_rd_req", r);

    char *client;
    if ((r = krb5_unparse_name(ctx, ticket->enc_part2->client, &client)))
        die("krb5_unparse_name", r);
    krb5_authenticator *auth;
    if ((r = krb5_auth_con_getauthenticator(ctx, ac, &auth)))
        die("krb5_auth_con_getauthenticator", r);
    krb5_keyblock *key;
    if ((r = krb5_auth_con_getkey(ctx, ac, &key))) die("krb5_auth_con_getkey", r);
    printf("ok client=%s ctime=%ld cusec=%ld", client, (long)auth->ctime, (long)auth->cusec);
    print_key(key);
    printf(" ticket_etype=%d ap_options=%ld subkey=%d\n", (int)ticket->enc_part.enctype,
           (long)ap_options, auth->subkey != NULL);

    if ((r = krb5_mk_rep(ctx, ac, &out))) die("krb5_mk_rep", r);
    printf("ap-rep ");
    print_hex((unsigned char *)out.data, out.length);
    printf("\n");
    fflush(stdout);
    return 0;
}

static int mk_req(const char *ccname, const char *server_name) {
    krb5_error_code r;
    krb5_ccache cc;
    krb5_creds in_creds, *creds;
    krb5_auth_context ac = NULL;
    krb5_data out, rep;
    krb5_ap_rep_enc_part *repl;
    setvbuf(stdout, NULL, _IOLBF, 0);

    if ((r = krb5_cc_resolve(ctx, ccname, &cc))) die("krb5_cc_resolve", r);
    memset(&in_creds, 0, sizeof in_creds);
    if ((r = krb5_cc_get_principal(ctx, cc, &in_creds.client))) die("krb5_cc_get_principal", r);
    if ((r = krb5_parse_name(ctx, server_name, &in_creds.server))) die("krb5_parse_name", r);
    if ((r = krb5_get_credentials(ctx, 0, cc, &in_creds, &creds)))
        die("krb5_get_credentials", r);
    if ((r = krb5_mk_req_extended(ctx, &ac, AP_OPTS_MUTUAL_REQUIRED, NULL, creds, &out)))
        die("krb5_mk_req_extended", r);
    printf("ap-req ");
    print_hex((unsigned char *)out.data, out.length);
    printf("\n");
    /* The initiator's authenticator is not exposed by libkrb5; krb5_rd_rep
     * below checks that the AP-REP echoes its ctime/cusec. */
    printf("info");
    print_key(&creds->keyblock);
    printf("\n");
    fflush(stdout);

    if (!read_hex_line(&rep)) { printf("error 0 bad hex input\n"); return 1; }
    if ((r = krb5_rd_rep(ctx, ac, &rep, &repl))) die("krb5_rd_rep", r);
    printf("ok rd-rep\n");
    fflush(stdout);
    return 0;
}

static int rd_error(void) {
    krb5_error_code r;
    krb5_data in;
    krb5_error *err;
    char *server = NULL, *client = NULL;

    if (!read_hex_line(&in)) { printf("error 0 bad hex input\n"); return 1; }
    if ((r = krb5_rd_error(ctx, &in, &err))) die("krb5_rd_error", r);
    if (err->server && (r = krb5_unparse_name(ctx, err->server, &server)))
        die("krb5_unparse_name", r);
    if (err->client && (r = krb5_unparse_name(ctx, err->client, &client)))
        die("krb5_unparse_name", r);
    printf("ok error=%ld stime=%ld susec=%ld ctime=%ld cusec=%ld server=%s client=%s\n",
           (long)err->error, (long)err->stime, (long)err->susec, (long)err->ctime,
           (long)err->cusec, server ? server : "-", client ? client : "-");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    krb5_error_code r;
    if (argc != 4) {
        fprintf(stderr, "usage: krb5_judge rd-req KEYTAB SERVER | mk-req CCACHE SERVER\n");
        return 2;
    }
    if ((r = krb5_init_context(&ctx))) {
        printf("error %ld krb5_init_context\n", (long)r);
        return 1;
    }
    if (strcmp(argv[1], "rd-req") == 0) return rd_req(argv[2], argv[3], NULL);
    if (strcmp(argv[1], "rd-req-u2u") == 0) {
        krb5_keyblock kb;
        const char *colon = strchr(argv[2], ':');
        if (!colon) return 2;
        size_t n = strlen(colon + 1) / 2;
        kb.magic = KV5M_KEYBLOCK;
        kb.enctype = atoi(argv[2]);
        kb.length = n;
        kb.contents = malloc(n);
        for (size_t i = 0; i < n; i++) {
            unsigned int v;
            sscanf(colon + 1 + 2 * i, "%2x", &v);
            kb.contents[i] = (krb5_octet)v;
        }
        return rd_req(NULL, argv[3], &kb);
    }
    if (strcmp(argv[1], "mk-req") == 0) return mk_req(argv[2], argv[3]);
    if (strcmp(argv[1], "rd-error") == 0) return rd_error();
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
